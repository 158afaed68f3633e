//! Writes the `impl ::nn::Layer` for a parsed [`Network`].
//!
//! Hygiene: every path is absolute (`::nn::…`, `::core::…`), so the user's own `Layer`, `Mode`,
//! `Result` or `forward` in scope cannot capture a name. The code is built from tokens spanned at
//! the field types, so that a field whose type is not a layer is reported at that field.

use crate::parse::Network;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Generics, Ident};

/// The `impl ::nn::Layer for Struct` block.
pub fn expand(net: &Network) -> TokenStream {
    let ident = &net.ident;
    let type_name = ident.to_string();

    // Each layer field's type must implement Layer. A type that mentions a type parameter is
    // bounded on the impl (rather than each parameter, as serde does), which accepts
    // `struct Net<A> { a: Vec<A> }` with or without `A: Layer` written by the user. A concrete
    // type is not: its bound would be false for a field that is not a layer, making the impl
    // unusable and each use of the struct as a layer one more error. The method bodies check it
    // instead, all through `as_layer` at the field's span, so rustc reports the one identical
    // error once. A type that mentions the struct itself (`kids: Vec<Tree>`) is left unbounded
    // too: its bound would need the impl being defined and overflow the trait solver.
    let params: Vec<Ident> = net.generics.type_params().map(|p| p.ident.clone()).collect();
    let mut generics = net.generics.clone();
    {
        let where_clause = generics.make_where_clause();
        let mut bounded = Vec::new();
        for field in &net.layers {
            let ty = &field.ty;
            // Several fields of one type need one bound (and clippy flags repeats).
            let key = ty.to_token_stream().to_string();
            let generic = params.iter().any(|p| mentions(ty.to_token_stream(), p));
            if !generic || mentions(ty.to_token_stream(), ident) || bounded.contains(&key) {
                continue;
            }
            bounded.push(key);
            where_clause
                .predicates
                .push(syn::parse_quote_spanned!(ty.span()=> #ty: ::nn::Layer));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    // A shortcut field runs on a copy of the input, taken before the first field, and its
    // output is added to the running output; in backward it gets a copy of the gradient of that
    // sum, and its input gradient is added to the first field's. Locals are spanned at the
    // macro's own site, so no user name can capture them. Fields go through `as_layer`, so that
    // a field that is not a layer is one error, at the field.
    let input = Ident::new("shortcut_input", Span::mixed_site());
    let shortcut_grad = Ident::new("shortcut_grad", Span::mixed_site());
    // Large buffers the Eval forward's layers are done with serve its next outputs until it ends.
    let scope = Ident::new("_eval_scope", Span::mixed_site());
    let is_shortcut = |i: usize| net.shortcut == Some(i);
    let fork = net.shortcut.map(|_| {
        quote! { let #input = ::nn::layer::branch::fork(&x, mode); }
    });
    let forward = net.layers.iter().enumerate().map(|(i, field)| {
        let (member, name) = (respanned(&field.member, field.ty.span()), &field.name);
        if is_shortcut(i) {
            quote_spanned! {field.ty.span()=>
                x = ::nn::layer::branch::shortcut_forward(#name, ::nn::layer::as_layer(&mut self.#member), x, #input, mode);
            }
        } else {
            quote_spanned! {field.ty.span()=>
                x = ::nn::layer::forward_child(#name, ::nn::layer::as_layer(&mut self.#member), x, mode);
            }
        }
    });
    let backward = net.layers.iter().enumerate().rev().map(|(i, field)| {
        let (member, name) = (respanned(&field.member, field.ty.span()), &field.name);
        if is_shortcut(i) {
            quote_spanned! {field.ty.span()=>
                let #shortcut_grad = ::nn::layer::branch::shortcut_backward(#name, ::nn::layer::as_layer(&mut self.#member), &grad);
            }
        } else {
            quote_spanned! {field.ty.span()=>
                grad = ::nn::layer::backward_child(#name, ::nn::layer::as_layer(&mut self.#member), grad);
            }
        }
    });
    let join = net.shortcut.map(|_| {
        quote! { grad = ::nn::layer::branch::add_input_grads(grad, #shortcut_grad); }
    });
    // ONNX: the same paths as forward, the shortcut's output added with an `Add` node.
    let onnx_input = Ident::new("onnx_input", Span::mixed_site());
    let onnx_shortcut = Ident::new("onnx_shortcut", Span::mixed_site());
    let onnx_fork = net.shortcut.map(|_| {
        quote! { let #onnx_input = ::core::clone::Clone::clone(&x); }
    });
    let onnx = net.layers.iter().enumerate().map(|(i, field)| {
        let (member, name) = (respanned(&field.member, field.ty.span()), &field.name);
        if is_shortcut(i) {
            quote_spanned! {field.ty.span()=>
                let #onnx_shortcut = ::nn::layer::onnx::Graph::child(g, #name, ::nn::layer::as_layer(&mut self.#member), #onnx_input)?;
                x = ::nn::layer::onnx::Graph::add(g, &x, &#onnx_shortcut);
            }
        } else {
            quote_spanned! {field.ty.span()=>
                x = ::nn::layer::onnx::Graph::child(g, #name, ::nn::layer::as_layer(&mut self.#member), x)?;
            }
        }
    });
    let children = net.layers.iter().map(|field| {
        let (member, name) = (respanned(&field.member, field.ty.span()), &field.name);
        quote_spanned! {field.ty.span()=>
            ::nn::layer::visit_child(f, #name, ::nn::layer::as_layer(&mut self.#member));
        }
    });

    quote! {
        #[automatically_derived]
        // A user's `T: Layer` next to the derive's own bound on a field of type `T` is harmless.
        #[allow(clippy::type_repetition_in_bounds)]
        impl #impl_generics ::nn::Layer for #ident #ty_generics #where_clause {
            // Reassigned rather than shadowed by `let`, which strict user lints would flag at
            // the field types these statements are spanned at. `#[track_caller]` (as on every
            // built-in forward) makes a shape panic point at the user's `net.forward(..)` line.
            #[track_caller]
            fn forward(&mut self, mut x: ::nn::Tensor, mode: ::nn::Mode) -> ::nn::Tensor {
                let #scope = ::nn::layer::EvalScope::enter(mode == ::nn::Mode::Eval);
                #fork
                #(#forward)*
                x
            }

            fn backward(&mut self, mut grad: ::nn::Tensor) -> ::nn::Tensor {
                #(#backward)*
                #join
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

            // The fields in order, as forward runs them.
            fn to_onnx(
                &mut self,
                g: &mut ::nn::layer::onnx::Graph,
                mut x: ::nn::layer::onnx::Value,
            ) -> ::core::result::Result<::nn::layer::onnx::Value, ::nn::layer::onnx::OnnxError> {
                #onnx_fork
                #(#onnx)*
                ::core::result::Result::Ok(x)
            }
        }
    }
}

/// What the derive emits for an input it refuses: the errors and, beside them, an
/// `impl ::nn::Layer` with trivial bodies, as thiserror's fallback does. Without the impl, each
/// use of the type as a layer (`net.forward(..)`, `&mut net` passed as `&mut dyn Layer`) would
/// add an error of its own to the one mistake. The impl never runs: the errors fail the build.
/// An enum or a union gets it too; an impl for either compiles like one for a struct.
pub fn fallback(ident: &Ident, generics: &Generics, error: syn::Error) -> TokenStream {
    let error = error.to_compile_error();
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        #error

        #[automatically_derived]
        impl #impl_generics ::nn::Layer for #ident #ty_generics #where_clause {
            fn forward(&mut self, x: ::nn::Tensor, _mode: ::nn::Mode) -> ::nn::Tensor {
                x
            }

            fn backward(&mut self, grad: ::nn::Tensor) -> ::nn::Tensor {
                grad
            }
        }
    }
}

/// `member` with every token at `span`.
fn respanned(member: &syn::Member, span: proc_macro2::Span) -> syn::Member {
    match member {
        syn::Member::Named(ident) => {
            let mut ident = ident.clone();
            ident.set_span(span);
            syn::Member::Named(ident)
        }
        syn::Member::Unnamed(index) => syn::Member::Unnamed(syn::Index {
            index: index.index,
            span,
        }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_finds_the_struct_inside_nested_generics_only_as_a_whole_ident() {
        let tree: syn::Ident = syn::parse_quote!(Tree);
        let ty = |t: syn::Type| t.to_token_stream();
        assert!(mentions(ty(syn::parse_quote!(Vec<Tree>)), &tree));
        assert!(mentions(ty(syn::parse_quote!(Option<Box<(u8, Tree)>>)), &tree));
        assert!(mentions(ty(syn::parse_quote!([Tree; 2])), &tree));
        assert!(!mentions(ty(syn::parse_quote!(Vec<TreeBlock>)), &tree));
        assert!(!mentions(ty(syn::parse_quote!(Box<dyn Layer>)), &tree));
    }
}
