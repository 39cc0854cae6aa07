//! `#[corio::test]`: runs a test function's body as the main coroutine of a new corio event
//! loop, the way `#[tokio::test]` does for tokio. Use it through `corio` (which re-exports it
//! as `corio::test` and `corio::testing::test`); this crate has no other use.
//!
//! * `#[corio::test]` — a loop with the real clock (`corio::run`);
//! * `#[corio::test(virtual_time)]` — a loop with virtual time (`corio::testing::run`).
//!
//! The function takes no arguments and may return a value (`Result<(), E>` works as with
//! `#[test]`). Written with `proc_macro` alone: the transformation is small enough that a
//! parser crate would cost more compile time than it saves.

use proc_macro::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs the test body inside a corio event loop; `#[corio::test(virtual_time)]` gives the
/// loop virtual time. See the crate docs.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let virtual_time = match parse_args(args) {
        Ok(v) => v,
        Err(msg) => return compile_error(&msg, Span::call_site()),
    };
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let Some(fn_at) = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
    else {
        return compile_error("#[corio::test] goes on a function", Span::call_site());
    };
    if let Some(TokenTree::Ident(a)) = tokens[..fn_at].last()
        && a.to_string() == "async"
    {
        return compile_error(
            "#[corio::test] functions are plain functions (corio needs no async)",
            a.span(),
        );
    }
    match tokens.get(fn_at + 2) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            if !g.stream().is_empty() {
                return compile_error("#[corio::test] functions take no arguments", g.span());
            }
        }
        _ => return compile_error("#[corio::test]: expected `fn name()`", Span::call_site()),
    }
    let Some(TokenTree::Group(body)) = tokens.last() else {
        return compile_error(
            "#[corio::test]: expected a function body",
            Span::call_site(),
        );
    };
    if body.delimiter() != Delimiter::Brace {
        return compile_error("#[corio::test]: expected a function body", body.span());
    }
    let runner = if virtual_time {
        "::corio::testing::run"
    } else {
        "::corio::run"
    };
    // `runner(move || BODY)`, with BODY the function's own tokens: re-parsed from text, the
    // body would lose its spans, and every panic location, `line!()`, spawn site and
    // primitive's creation site in it would point at the attribute.
    let mut closure: TokenStream = "move ||".parse().expect("a closure head parses");
    closure.extend([TokenTree::Group(body.clone())]);
    let mut call: TokenStream = runner.parse().expect("the runner's path parses");
    call.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        closure,
    ))]);
    let mut out: TokenStream = "#[::core::prelude::v1::test]"
        .parse()
        .expect("the test attribute parses");
    out.extend(tokens[..tokens.len() - 1].iter().cloned());
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, call))]);
    out
}

/// `true` for `virtual_time`, `false` for nothing; an error for anything else.
fn parse_args(args: TokenStream) -> Result<bool, String> {
    let args: Vec<TokenTree> = args.into_iter().collect();
    match args.as_slice() {
        [] => Ok(false),
        [TokenTree::Ident(i)] if i.to_string() == "virtual_time" => Ok(true),
        _ => Err(format!(
            "#[corio::test]: unknown argument `{}`; the only one is `virtual_time`",
            args.iter().map(ToString::to_string).collect::<String>()
        )),
    }
}

fn compile_error(msg: &str, span: Span) -> TokenStream {
    let mut path = TokenStream::new();
    path.extend([
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("core", span)),
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(Punct::new('!', Spacing::Alone)),
    ]);
    let lit: TokenStream = format!("{msg:?}").parse().expect("a string literal parses");
    path.extend([TokenTree::Group(Group::new(Delimiter::Parenthesis, lit))]);
    path.extend([TokenTree::Punct(Punct::new(';', Spacing::Alone))]);
    path
}
