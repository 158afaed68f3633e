//! Writes the `impl ::nn::Layer` for a parsed [`Network`].
//!
//! Hygiene: every path is absolute (`::nn::…`, `::core::…`), so the user's own `Layer`, `Mode`,
//! `Result` or `forward` in scope cannot capture a name. The code is built from tokens spanned at
//! the field types, so that a field whose type is not a layer is reported at that field.

use crate::parse::Network;
use proc_macro2::TokenStream;
use proc_macro2::TokenTree;
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;

/// The `impl ::nn::Layer for Struct` block.
pub fn expand(net: &Network) -> TokenStream {
    let ident = &net.ident;
    let type_name = ident.to_string();

    // Each layer field's type must implement Layer. Bounding the field types themselves (rather
    // than each type parameter, as serde does) accepts `struct Net<A> { a: Vec<A> }` with or
    // without `A: Layer` written by the user, and makes a field that is not a layer one error at
    // that field instead of one per generated method. A type that mentions the struct itself
    // (`kids: Vec<Tree>`) is left unbounded: its bound would need the impl being defined and
    // overflow the trait solver; the method bodies still check it.
    let mut generics = net.generics.clone();
    {
        let where_clause = generics.make_where_clause();
        for field in net
            .layers
            .iter()
            .filter(|f| !mentions(f.ty.to_token_stream(), ident))
        {
            let ty = &field.ty;
            where_clause
                .predicates
                .push(syn::parse_quote_spanned!(ty.span()=> #ty: ::nn::Layer));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let forward = net.layers.iter().map(|field| {
        let (member, name) = (&field.member, &field.name);
        quote_spanned! {field.ty.span()=>
            let x = ::nn::layer::forward_child(#name, &mut self.#member, x, mode);
        }
    });
    let backward = net.layers.iter().rev().map(|field| {
        let (member, name) = (&field.member, &field.name);
        quote_spanned! {field.ty.span()=>
            let grad = ::nn::layer::backward_child(#name, &mut self.#member, grad);
        }
    });
    let children = net.layers.iter().map(|field| {
        let (member, name) = (&field.member, &field.name);
        quote_spanned! {field.ty.span()=>
            f(#name, &mut self.#member);
        }
    });

    quote! {
        #[automatically_derived]
        impl #impl_generics ::nn::Layer for #ident #ty_generics #where_clause {
            fn forward(&mut self, x: ::nn::Tensor, mode: ::nn::Mode) -> ::nn::Tensor {
                #(#forward)*
                x
            }

            fn backward(&mut self, grad: ::nn::Tensor) -> ::nn::Tensor {
                #(#backward)*
                grad
            }

            fn visit_children(
                &mut self,
                f: &mut dyn ::core::ops::FnMut(&::core::primitive::str, &mut dyn ::nn::Layer),
            ) {
                #(#children)*
            }

            fn type_name(&self) -> ::std::string::String {
                ::core::convert::From::from(#type_name)
            }
        }
    }
}

/// Whether `tokens` contain the identifier `ident` anywhere, groups included.
fn mentions(tokens: TokenStream, ident: &syn::Ident) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(i) => i == *ident,
        TokenTree::Group(g) => mentions(g.stream(), ident),
        _ => false,
    })
}
