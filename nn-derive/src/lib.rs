//! `#[derive(Sequential)]` for nn (filled by its own issue).
use proc_macro::TokenStream;

/// Turns a struct whose fields are layers into an `nn::Layer`.
#[proc_macro_derive(Sequential, attributes(sequential))]
pub fn derive_sequential(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
