//! Reads the derive input into a [`Network`]: which fields are layers, in which order, under
//! which names. Every rejection is a `syn::Error` spanned at the offending token, and errors are
//! collected so that one compile shows all of them.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Generics, Ident, Member, Type};

/// A struct accepted by the derive.
pub struct Network {
    /// The struct's name, also its `type_name`.
    pub ident: Ident,
    /// The struct's generics, copied onto the impl.
    pub generics: Generics,
    /// The fields that are layers, in declaration order. Never empty.
    pub layers: Vec<LayerField>,
    /// The index in `layers` of the field marked `#[sequential(shortcut)]`, if any: it runs on
    /// the struct's input, and its output is added to that of the fields before it. Never 0.
    pub shortcut: Option<usize>,
}

/// A field that takes part in forward, backward and parameter naming.
pub struct LayerField {
    /// How to reach the field: `self.fc1` or `self.0`.
    pub member: Member,
    /// The name used in parameter paths and error messages: `fc1`, or `0` for a tuple field.
    pub name: String,
    /// The field's type, bound by `Layer` on the generated impl.
    pub ty: Type,
}

/// The name of the helper attribute, `#[sequential(...)]`.
const ATTR: &str = "sequential";

/// Accepts a struct with at least one layer field, or explains what is wrong with the input.
pub fn parse(input: DeriveInput) -> syn::Result<Network> {
    let mut errors = Errors::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident(ATTR)) {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[sequential(...)]` is not used on the struct itself; \
             put `#[sequential(skip)]` on a field that is not a layer",
        ));
    }

    let fields = match input.data {
        Data::Struct(data) => data.fields,
        Data::Enum(data) => {
            return Err(errors.finish_with(syn::Error::new(
                data.enum_token.span,
                "`#[derive(Sequential)]` needs a struct whose fields are layers, not an enum; \
                 to choose a layer by configuration, use an `Option<L>` or `Box<dyn Layer>` field",
            )))
        }
        Data::Union(data) => {
            return Err(errors.finish_with(syn::Error::new(
                data.union_token.span,
                "`#[derive(Sequential)]` needs a struct whose fields are layers, not a union",
            )))
        }
    };
    if let Fields::Unit = fields {
        return Err(errors.finish_with(syn::Error::new(
            input.ident.span(),
            format!(
                "`#[derive(Sequential)]` needs at least one layer field, but `{}` is a unit struct; \
                 declare its layers as fields: `struct {} {{ fc1: Linear, act1: Relu }}`",
                input.ident, input.ident
            ),
        )));
    }

    let mut layers = Vec::new();
    let mut shortcut: Option<(usize, String)> = None;
    for (index, field) in fields.iter().enumerate() {
        let attrs = match parse_field_attrs(&field.attrs) {
            Ok(attrs) => attrs,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if attrs.skip.is_some() {
            continue;
        }
        let (member, name) = match &field.ident {
            // `r#type` is reached as `self.r#type` but named `type`, as a user would write it.
            Some(ident) => (Member::Named(ident.clone()), ident.unraw().to_string()),
            None => (
                Member::Unnamed(syn::Index {
                    index: index as u32,
                    span: field.ty.span(),
                }),
                index.to_string(),
            ),
        };
        if let Some(span) = attrs.shortcut {
            match &shortcut {
                Some((_, first)) => errors.push(syn::Error::new(
                    span,
                    format!(
                        "only one field can be `#[sequential(shortcut)]`, and `{first}` already is; \
                         for more paths, nest blocks (a derived struct with a shortcut is a layer) \
                         or concatenate them with `nn::Concat`"
                    ),
                )),
                None if layers.is_empty() => errors.push(syn::Error::new(
                    span,
                    format!(
                        "the shortcut `{name}` is added to the output of the layer fields before \
                         it, but it has none: declare the body first (torchvision's `downsample` \
                         comes after `conv1`, `bn1`, `relu`, `conv2` and `bn2`)"
                    ),
                )),
                None => shortcut = Some((layers.len(), name.clone())),
            }
        }
        layers.push(LayerField {
            member,
            name,
            ty: field.ty.clone(),
        });
    }

    if layers.is_empty() && errors.is_empty() {
        let what = if fields.is_empty() {
            "has no fields"
        } else {
            "has only `#[sequential(skip)]` fields"
        };
        errors.push(syn::Error::new(
            input.ident.span(),
            format!(
                "`#[derive(Sequential)]` needs at least one layer field, but `{}` {what}",
                input.ident
            ),
        ));
    }
    errors.finish()?;
    Ok(Network {
        ident: input.ident,
        generics: input.generics,
        layers,
        shortcut: shortcut.map(|(index, _)| index),
    })
}

/// What `#[sequential(...)]` says about a field: the span of each argument given.
#[derive(Default)]
struct FieldAttrs {
    skip: Option<Span>,
    shortcut: Option<Span>,
}

/// The field's `#[sequential(skip)]` or `#[sequential(shortcut)]`; any other use of the
/// attribute is an error.
fn parse_field_attrs(attrs: &[Attribute]) -> syn::Result<FieldAttrs> {
    let mut found = FieldAttrs::default();
    let mut errors = Errors::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(ATTR)) {
        let list = match attr.meta.require_list() {
            Ok(list) => list,
            Err(_) => {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "expected `#[sequential(skip)]` or `#[sequential(shortcut)]`, the forms this \
                     attribute takes",
                ));
                continue;
            }
        };
        if list.tokens.is_empty() {
            errors.push(syn::Error::new_spanned(
                attr,
                "expected `#[sequential(skip)]` or `#[sequential(shortcut)]`: the attribute needs \
                 an argument",
            ));
            continue;
        }
        let result = list.parse_nested_meta(|meta| {
            let (slot, word) = if meta.path.is_ident("skip") {
                (&mut found.skip, "skip")
            } else if meta.path.is_ident("shortcut") {
                (&mut found.shortcut, "shortcut")
            } else {
                let name = meta.path.get_ident().map(Ident::to_string).unwrap_or_else(|| {
                    meta.path
                        .segments
                        .iter()
                        .map(|s| s.ident.to_string())
                        .collect::<Vec<_>>()
                        .join("::")
                });
                return Err(meta.error(format!(
                    "unknown `sequential` argument `{name}`; the arguments are `skip` and `shortcut`"
                )));
            };
            if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                return Err(meta.error(format!("`{word}` takes no value: write `#[sequential({word})]`")));
            }
            if slot.is_some() {
                return Err(meta.error(format!("duplicate `{word}`")));
            }
            *slot = Some(meta.path.span());
            Ok(())
        });
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if let (Some(_), Some(span)) = (found.skip, found.shortcut) {
        errors.push(syn::Error::new(
            span,
            "a field cannot be both `skip` and `shortcut`: a skipped field takes no part in forward",
        ));
    }
    errors.finish()?;
    Ok(found)
}

/// Collects several errors into one, so that the user sees all of them in a single build.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn finish_with(mut self, e: syn::Error) -> syn::Error {
        self.push(e);
        self.0.expect("just pushed")
    }
}
