//! Reading generated artifacts back with real parsers, shared by
//! `injection`, `secrets` and `cloud_init_tools`:
//!
//! - Terraform: hcl-rs (`hcl::parse`), with a visitor over every
//!   expression and the string data a module holds;
//! - the cloud-init user-data templates: hcl-rs's template parser and
//!   evaluator stand in for Terraform's `templatefile()` (the same grammar:
//!   `$${`/`%%{` escapes, `${...}` interpolations, `%{...}` directives), then
//!   serde_norway parses the YAML;
//! - Nix: rnix, with Nix's own string semantics (escapes, indented strings).
#![allow(dead_code)]

use std::collections::BTreeMap;

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::expr::{Expression, ObjectKey, Operation, TraversalOperator};
use hcl::structure::{BlockLabel, Body, Structure};
use hcl::template::Element;
use rnix::ast;

// ---------------------------------------------------------------------------
// Terraform (HCL)
// ---------------------------------------------------------------------------

/// Calls `f` on every expression of `body`, nested ones included.
pub fn each_expr(body: &Body, f: &mut dyn FnMut(&Expression)) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => walk(&a.expr, f),
            Structure::Block(b) => each_expr(&b.body, f),
        }
    }
}

fn walk(e: &Expression, f: &mut dyn FnMut(&Expression)) {
    f(e);
    match e {
        Expression::Array(items) => items.iter().for_each(|i| walk(i, f)),
        Expression::Object(o) => {
            for (k, v) in o {
                if let ObjectKey::Expression(k) = k {
                    walk(k, f);
                }
                walk(v, f);
            }
        }
        Expression::TemplateExpr(t) => {
            if let Ok(t) = hcl::Template::from_expr(t) {
                walk_template(&t, f);
            }
        }
        Expression::Traversal(t) => {
            walk(&t.expr, f);
            for op in &t.operators {
                if let TraversalOperator::Index(i) = op {
                    walk(i, f);
                }
            }
        }
        Expression::FuncCall(c) => c.args.iter().for_each(|a| walk(a, f)),
        Expression::Parenthesis(p) => walk(p, f),
        Expression::Conditional(c) => {
            walk(&c.cond_expr, f);
            walk(&c.true_expr, f);
            walk(&c.false_expr, f);
        }
        Expression::Operation(op) => match &**op {
            Operation::Unary(u) => walk(&u.expr, f),
            Operation::Binary(b) => {
                walk(&b.lhs_expr, f);
                walk(&b.rhs_expr, f);
            }
        },
        Expression::ForExpr(fe) => {
            walk(&fe.collection_expr, f);
            if let Some(k) = &fe.key_expr {
                walk(k, f);
            }
            walk(&fe.value_expr, f);
            if let Some(c) = &fe.cond_expr {
                walk(c, f);
            }
        }
        _ => {}
    }
}

fn walk_template(t: &hcl::Template, f: &mut dyn FnMut(&Expression)) {
    for el in t.elements() {
        match el {
            Element::Literal(_) => {}
            Element::Interpolation(i) => walk(&i.expr, f),
            Element::Directive(d) => match &**d {
                hcl::template::Directive::If(d) => {
                    walk(&d.cond_expr, f);
                    walk_template(&d.true_template, f);
                    if let Some(t) = &d.false_template {
                        walk_template(t, f);
                    }
                }
                hcl::template::Directive::For(d) => {
                    walk(&d.collection_expr, f);
                    walk_template(&d.template, f);
                }
            },
        }
    }
}

/// Every piece of string data in a module, as Terraform reads it: string
/// literals, the literal parts of templates, string block labels and
/// quoted object keys.
pub fn hcl_strings(body: &Body) -> Vec<String> {
    let mut out = Vec::new();
    labels(body, &mut out);
    each_expr(body, &mut |e| match e {
        Expression::String(s) => out.push(s.clone()),
        Expression::TemplateExpr(t) => {
            if let Ok(t) = hcl::Template::from_expr(t) {
                template_literals(&t, &mut out);
            }
        }
        _ => {}
    });
    out
}

fn labels(body: &Body, out: &mut Vec<String>) {
    for b in body.blocks() {
        for l in &b.labels {
            if let BlockLabel::String(s) = l {
                out.push(s.clone());
            }
        }
        labels(&b.body, out);
    }
}

fn template_literals(t: &hcl::Template, out: &mut Vec<String>) {
    for el in t.elements() {
        match el {
            Element::Literal(l) => out.push(l.clone()),
            Element::Interpolation(_) => {}
            Element::Directive(d) => match &**d {
                hcl::template::Directive::If(d) => {
                    template_literals(&d.true_template, out);
                    if let Some(t) = &d.false_template {
                        template_literals(t, out);
                    }
                }
                hcl::template::Directive::For(d) => template_literals(&d.template, out),
            },
        }
    }
}

/// The things an expression refers to, as `root.attr` (`var.x`,
/// `random_password.y`, `local.z`).
pub fn references(e: &Expression) -> Vec<String> {
    let mut out = Vec::new();
    walk(e, &mut |e| {
        if let Expression::Traversal(t) = e {
            if let Expression::Variable(root) = &t.expr {
                match t.operators.first() {
                    Some(TraversalOperator::GetAttr(a)) => {
                        out.push(format!("{}.{}", root.as_str(), a.as_str()))
                    }
                    _ => out.push(root.as_str().to_string()),
                }
            }
        }
    });
    out
}

// ---------------------------------------------------------------------------
// templatefile() and the YAML it produces
// ---------------------------------------------------------------------------

fn base64encode(args: FuncArgs) -> Result<hcl::Value, String> {
    let s = args[0].as_str().ok_or("base64encode takes a string")?;
    Ok(hcl::Value::String(base64_encode(s.as_bytes())))
}

/// What Terraform's `templatefile(path, vars)` makes of a template: parsed
/// and evaluated by hcl-rs with `vars` and `base64encode` (the only
/// function rmqgen's user-data calls). A template sequence that is not
/// rmqgen's own (an unknown variable or function, a directive) is an error.
pub fn templatefile(src: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let template: hcl::Template = src.parse().map_err(|e| format!("template syntax: {e}"))?;
    let mut ctx = Context::new();
    ctx.declare_func(
        "base64encode",
        FuncDef::builder()
            .param(ParamType::String)
            .build(base64encode),
    );
    for (k, v) in vars {
        ctx.declare_var(k.as_str(), v.as_str());
    }
    template
        .evaluate(&ctx)
        .map_err(|e| format!("template evaluation: {e}"))
}

/// YAML -> JSON value, with serde_norway.
pub fn yaml(text: &str) -> Result<serde_json::Value, String> {
    serde_norway::from_str(text).map_err(|e| e.to_string())
}

pub fn base64_encode(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().filter(|b| **b == b'=').count();
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= if *b == b'=' { 0 } else { val(*b) } << (18 - 6 * i);
        }
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad]);
    }
    out
}

// ---------------------------------------------------------------------------
// Nix
// ---------------------------------------------------------------------------

/// The string literals of a Nix file, as Nix reads them (escapes and
/// indentation stripping applied by rnix), attribute names in quotes
/// included, and how many interpolations (`${...}`) the file has. Errors
/// when rnix reports a syntax error.
pub struct NixStrings {
    /// Each literal with its interpolations left out.
    pub literals: Vec<String>,
    /// `${...}` inside strings (antiquotations elsewhere count too).
    pub interpolations: usize,
}

/// rnix's `cast` belongs to rowan's `AstNode`, a supertrait of rnix's: a
/// bound on rnix's trait reaches it without a direct rowan dependency.
fn cast<N: ast::AstNode>(node: &rnix::SyntaxNode) -> Option<N> {
    N::cast(node.clone())
}

pub fn nix_strings(text: &str) -> Result<NixStrings, String> {
    let parse = rnix::Root::parse(text);
    if let Some(e) = parse.errors().first() {
        return Err(format!("rnix: {e}"));
    }
    let mut literals = Vec::new();
    let mut interpolations = 0;
    for node in parse.syntax().descendants() {
        if let Some(s) = cast::<ast::Str>(&node) {
            let mut lit = String::new();
            for part in s.normalized_parts() {
                match part {
                    ast::InterpolPart::Literal(l) => lit.push_str(&l),
                    ast::InterpolPart::Interpolation(_) => interpolations += 1,
                }
            }
            literals.push(lit);
        } else if cast::<ast::Dynamic>(&node).is_some() {
            interpolations += 1;
        }
    }
    Ok(NixStrings {
        literals,
        interpolations,
    })
}
