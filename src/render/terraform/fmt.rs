//! Prints hcl-rs bodies the way `terraform fmt` leaves them.
//!
//! `hcl::format` writes valid HCL but not Terraform's canonical layout: it
//! does not align `=`, writes `{for ...}` without the spaces Terraform puts
//! inside braces, and lays out every object over several lines. This
//! printer walks the same typed structures in two passes:
//!
//! 1. layout: every structure becomes [`Line`]s. A line that assigns a
//!    value which ends on the same line keeps the key (`lead`) apart from
//!    `= value` (`assign`), like hclwrite's format cells. Objects that are
//!    the value of a block attribute or a function argument span lines;
//!    nested objects and lists stay on one line when they hold only scalars
//!    and fit in [`MAX_WIDTH`] columns. In a block body, meta-arguments,
//!    nested blocks and multi-line attributes are set apart by blank lines.
//! 2. alignment: consecutive assigning lines get their `=` in one column,
//!    exactly as hclwrite's `formatCells` does. A blank line, a comment or
//!    a line that opens a multi-line value ends the group.
//!
//! Scalars are written by hcl-rs itself where it gets them right (string
//! escaping, including `${` -> `$${`, and numbers); everything else here.

use hcl::expr::{
    BinaryOp, Expression, ForExpr, FuncCall, ObjectKey, Operation, TemplateExpr, Traversal,
    TraversalOperator, UnaryOp,
};
use hcl::structure::{Block, BlockLabel, Body, Structure};

use std::fmt::Write as _;

/// Lines longer than this put their object or list over several lines.
pub(crate) const MAX_WIDTH: usize = 100;

/// Meta-arguments: written first in a block and set apart by a blank line.
const META_ARGUMENTS: &[&str] = &["count", "for_each", "provider", "depends_on"];

/// One output line before alignment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    /// Indentation level (two spaces each).
    indent: usize,
    /// Everything before `=`, or the whole line.
    lead: String,
    /// `= value` when the line assigns a value that ends on this line.
    assign: Option<String>,
}

impl Line {
    fn blank() -> Self {
        Line {
            indent: 0,
            lead: String::new(),
            assign: None,
        }
    }

    fn is_blank(&self) -> bool {
        self.lead.is_empty() && self.assign.is_none()
    }
}

/// Where an expression stands; decides whether objects may stay on one
/// line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The value of a block attribute or a function argument: objects are
    /// spread over lines.
    Top,
    /// Inside an object or a list.
    Nested,
}

/// Formats a whole file: optional leading comment lines, then the body's
/// structures separated by blank lines.
pub(crate) fn file(comment: &[String], body: &Body) -> String {
    let mut p = Printer::default();
    for line in comment {
        p.push(0, format!("# {line}").trim_end().to_string());
    }
    for structure in body.iter() {
        if !p.lines.is_empty() {
            p.blank();
        }
        p.structure(structure, 0);
    }
    align(&p.lines)
}

/// One expression on one line, as Terraform writes it.
pub(crate) fn inline(expr: &Expression) -> String {
    one_line(expr)
}

#[derive(Default)]
struct Printer {
    lines: Vec<Line>,
}

/// What a structure in a block body is, for blank-line placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Meta,
    Single,
    Multi,
    Block,
}

impl Printer {
    fn push(&mut self, indent: usize, lead: String) {
        self.lines.push(Line {
            indent,
            lead,
            assign: None,
        });
    }

    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| !l.is_blank()) {
            self.lines.push(Line::blank());
        }
    }

    fn structure(&mut self, s: &Structure, indent: usize) {
        match s {
            Structure::Attribute(a) => {
                self.entry(Some(a.key.to_string()), &a.expr, "", indent, Place::Top)
            }
            Structure::Block(b) => self.block(b, indent),
        }
    }

    fn block(&mut self, block: &Block, indent: usize) {
        let mut head = block.identifier.to_string();
        for label in &block.labels {
            head.push(' ');
            match label {
                BlockLabel::Identifier(id) => head.push_str(id),
                BlockLabel::String(s) => head.push_str(&string(s)),
            }
        }
        if block.body.iter().next().is_none() {
            self.push(indent, format!("{head} {{}}"));
            return;
        }
        self.push(indent, format!("{head} {{"));
        let mut prev: Option<Kind> = None;
        for s in block.body.iter() {
            let start = self.lines.len();
            self.structure(s, indent + 1);
            let kind = match s {
                Structure::Block(_) => Kind::Block,
                Structure::Attribute(a) if META_ARGUMENTS.contains(&a.key.as_str()) => Kind::Meta,
                Structure::Attribute(_) if self.lines.len() - start > 1 => Kind::Multi,
                Structure::Attribute(_) => Kind::Single,
            };
            let separate = !matches!(
                (prev, kind),
                (None, _) | (Some(Kind::Meta), Kind::Meta) | (Some(Kind::Single), Kind::Single)
            );
            if separate {
                self.lines.insert(start, Line::blank());
            }
            prev = Some(kind);
        }
        self.push(indent, "}".to_string());
    }

    /// An attribute, object entry (`key` set) or list element (`key`
    /// unset), followed by `suffix` (`,` for list elements).
    fn entry(
        &mut self,
        key: Option<String>,
        expr: &Expression,
        suffix: &str,
        indent: usize,
        place: Place,
    ) {
        if let Some(text) = fits(expr, place) {
            let width =
                2 * indent + key.as_ref().map_or(0, |k| k.len() + 3) + text.len() + suffix.len();
            if width <= MAX_WIDTH || !breakable(expr) {
                self.lines.push(match key {
                    Some(k) => Line {
                        indent,
                        lead: k,
                        assign: Some(format!("= {text}{suffix}")),
                    },
                    None => Line {
                        indent,
                        lead: format!("{text}{suffix}"),
                        assign: None,
                    },
                });
                return;
            }
        }
        let head = key.map(|k| format!("{k} = ")).unwrap_or_default();
        self.spread(head, expr, suffix, indent)
    }

    /// Writes a value over several lines: `head` and the opening bracket on
    /// the first, the entries indented, the closing bracket and `suffix` on
    /// the last.
    fn spread(&mut self, head: String, expr: &Expression, suffix: &str, indent: usize) {
        match expr {
            Expression::Object(o) if !o.is_empty() => {
                self.push(indent, format!("{head}{{"));
                for (k, v) in o.iter() {
                    self.entry(Some(object_key(k)), v, "", indent + 1, Place::Nested);
                }
                self.push(indent, format!("}}{suffix}"));
            }
            Expression::Array(a) if !a.is_empty() => {
                self.push(indent, format!("{head}["));
                for v in a {
                    self.entry(None, v, ",", indent + 1, Place::Nested);
                }
                self.push(indent, format!("]{suffix}"));
            }
            Expression::FuncCall(f) if f.args.last().is_some_and(breakable) => {
                // The guard says there is a last argument.
                let Some((last, first)) = f.args.split_last() else {
                    return self.push(indent, format!("{head}{}{suffix}", one_line(expr)));
                };
                let mut head = format!("{head}{}(", func_name(f));
                for arg in first {
                    head.push_str(&one_line(arg));
                    head.push_str(", ");
                }
                let close = if f.expand_final { "...)" } else { ")" };
                self.spread(head, last, &format!("{close}{suffix}"), indent);
            }
            other => {
                let text = one_line(other);
                self.push(indent, format!("{head}{text}{suffix}"));
            }
        }
    }
}

/// Whether a value can be spread over several lines.
fn breakable(expr: &Expression) -> bool {
    match expr {
        Expression::Object(o) => !o.is_empty(),
        Expression::Array(a) => !a.is_empty(),
        Expression::FuncCall(f) => f.args.last().is_some_and(breakable),
        _ => false,
    }
}

/// Neither an object nor a list.
fn is_scalar(expr: &Expression) -> bool {
    !matches!(expr, Expression::Object(_) | Expression::Array(_))
}

/// An object whose values are all scalars.
fn is_flat_object(expr: &Expression) -> bool {
    matches!(expr, Expression::Object(o) if o.values().all(is_scalar))
}

/// The one-line form of `expr` if layout rules allow it at `place`
/// (ignoring width), else `None`.
fn fits(expr: &Expression, place: Place) -> Option<String> {
    let allowed = match expr {
        Expression::Object(o) if o.is_empty() => true,
        Expression::Object(o) => {
            place == Place::Nested
                && o.values().all(|v| {
                    is_scalar(v) && args_fit(v)
                        || matches!(v, Expression::Array(a) if a.iter().all(is_scalar))
                })
        }
        Expression::Array(a) => a
            .iter()
            .all(|v| is_scalar(v) && args_fit(v) || is_flat_object(v)),
        other => args_fit(other),
    };
    if allowed {
        Some(one_line(expr))
    } else {
        None
    }
}

/// A function call whose object arguments would be spread keeps the whole
/// call spread; other scalars always fit.
fn args_fit(expr: &Expression) -> bool {
    match expr {
        Expression::FuncCall(f) => f.args.iter().all(|a| match a {
            Expression::Object(o) => o.is_empty(),
            other => is_scalar(other) && args_fit(other) || fits_nested_list(other),
        }),
        _ => true,
    }
}

fn fits_nested_list(expr: &Expression) -> bool {
    matches!(expr, Expression::Array(a) if a.iter().all(|v| is_scalar(v) && args_fit(v)))
}

/// A quoted, escaped HCL string literal, byte for byte as hcl-rs writes
/// one (a test compares them), so no value can become an interpolation:
/// from the first `${` or `%{` on, a `$` or `%` before `{` is doubled (and
/// `$`/`%` takes the character after it along); then `"`, `\`, tab, line
/// feed and carriage return are written `\"`, `\\`, `\t`, `\n`, `\r`,
/// and every other control character below U+0020 as `\u00XX`. Total: no
/// text lacks a literal.
pub(crate) fn string(s: &str) -> String {
    let first_marker = s
        .as_bytes()
        .windows(2)
        .position(|w| w == b"${" || w == b"%{");
    let mut text = String::with_capacity(s.len() + 2);
    match first_marker {
        None => text.push_str(s),
        Some(at) => {
            text.push_str(&s[..at]);
            let mut chars = s[at..].chars();
            while let Some(c) = chars.next() {
                text.push(c);
                if c != '$' && c != '%' {
                    continue;
                }
                match chars.next() {
                    Some('{') => {
                        text.push(c);
                        text.push('{');
                    }
                    Some(next) => text.push(next),
                    None => break,
                }
            }
        }
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn object_key(key: &ObjectKey) -> String {
    match key {
        ObjectKey::Identifier(id) => id.to_string(),
        ObjectKey::Expression(Expression::String(s)) => string(s),
        ObjectKey::Expression(e) => one_line(e),
        // hcl-rs 0.20 has no other kind of key (the enum is
        // non-exhaustive); a future one is written as hcl-rs writes it.
        other => hcl_rs_layout(other),
    }
}

/// hcl-rs's own layout, for what this printer never builds. hcl-rs
/// documents that formatting to a string cannot fail.
fn hcl_rs_layout(value: &impl hcl::format::Format) -> String {
    hcl::format::to_string(value).unwrap_or_default()
}

fn func_name(f: &FuncCall) -> String {
    let mut out = String::new();
    for ns in &f.name.namespace {
        out.push_str(ns);
        out.push_str("::");
    }
    out.push_str(&f.name.name);
    out
}

/// Writes an expression on one line.
fn one_line(expr: &Expression) -> String {
    match expr {
        Expression::Null => "null".to_string(),
        Expression::Bool(b) => b.to_string(),
        Expression::Number(n) => n.to_string(),
        Expression::String(s) => string(s),
        Expression::Array(a) => {
            let items = a.iter().map(one_line).collect::<Vec<_>>();
            format!("[{}]", items.join(", "))
        }
        Expression::Object(o) if o.is_empty() => "{}".to_string(),
        Expression::Object(o) => {
            let items = o
                .iter()
                .map(|(k, v)| format!("{} = {}", object_key(k), one_line(v)))
                .collect::<Vec<_>>();
            format!("{{ {} }}", items.join(", "))
        }
        Expression::TemplateExpr(t) => match t.as_ref() {
            TemplateExpr::QuotedString(s) => format!("\"{s}\""),
            // Never built by this module; written as hcl-rs writes it.
            heredoc => hcl_rs_layout(heredoc),
        },
        Expression::Variable(v) => v.to_string(),
        Expression::Traversal(t) => traversal(t),
        Expression::FuncCall(f) => {
            let args = f.args.iter().map(one_line).collect::<Vec<_>>();
            let dots = if f.expand_final { "..." } else { "" };
            format!("{}({}{dots})", func_name(f), args.join(", "))
        }
        Expression::Parenthesis(e) => format!("({})", one_line(e)),
        Expression::Conditional(c) => format!(
            "{} ? {} : {}",
            one_line(&c.cond_expr),
            one_line(&c.true_expr),
            one_line(&c.false_expr)
        ),
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(UnaryOp { operator, expr }) => {
                format!("{}{}", operator.as_str(), one_line(expr))
            }
            Operation::Binary(BinaryOp {
                lhs_expr,
                operator,
                rhs_expr,
            }) => format!(
                "{} {} {}",
                one_line(lhs_expr),
                operator.as_str(),
                one_line(rhs_expr)
            ),
        },
        Expression::ForExpr(f) => for_expr(f),
        // hcl-rs 0.20 has no other expression (the enum is
        // non-exhaustive); a future one is written as hcl-rs writes it.
        other => hcl_rs_layout(other),
    }
}

fn traversal(t: &Traversal) -> String {
    let mut out = one_line(&t.expr);
    for op in &t.operators {
        match op {
            TraversalOperator::AttrSplat => out.push_str(".*"),
            TraversalOperator::FullSplat => out.push_str("[*]"),
            TraversalOperator::GetAttr(id) => {
                out.push('.');
                out.push_str(id);
            }
            TraversalOperator::LegacyIndex(i) => out.push_str(&format!(".{i}")),
            TraversalOperator::Index(e) => out.push_str(&format!("[{}]", one_line(e))),
        }
    }
    out
}

fn for_expr(f: &ForExpr) -> String {
    let mut vars = String::new();
    if let Some(k) = &f.key_var {
        vars.push_str(k);
        vars.push_str(", ");
    }
    vars.push_str(&f.value_var);
    let mut body = format!("for {vars} in {} : ", one_line(&f.collection_expr));
    if let Some(k) = &f.key_expr {
        body.push_str(&one_line(k));
        body.push_str(" => ");
    }
    body.push_str(&one_line(&f.value_expr));
    if f.key_expr.is_some() && f.grouping {
        body.push_str("...");
    }
    if let Some(c) = &f.cond_expr {
        body.push_str(" if ");
        body.push_str(&one_line(c));
    }
    if f.key_expr.is_some() {
        format!("{{ {body} }}")
    } else {
        format!("[{body}]")
    }
}

/// hclwrite's `formatCells`: in each run of consecutive assigning lines,
/// pad the part before `=` to the widest of the run.
fn align(lines: &[Line]) -> String {
    let lead_width = |l: &Line| 2 * l.indent + l.lead.chars().count();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let mut j = i;
        while j < lines.len() && lines[j].assign.is_some() {
            j += 1;
        }
        let run = if j > i { &lines[i..j] } else { &lines[i..=i] };
        let width = run.iter().map(lead_width).max().unwrap_or(0);
        for l in run {
            if l.is_blank() {
                out.push('\n');
                continue;
            }
            out.push_str(&"  ".repeat(l.indent));
            out.push_str(&l.lead);
            if let Some(assign) = &l.assign {
                out.push_str(&" ".repeat(width - lead_width(l) + 1));
                out.push_str(assign);
            }
            out.push('\n');
        }
        i += run.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::expr::{BinaryOperator, Variable};
    use hcl::{Identifier, Object};

    fn trav(root: &str, attrs: &[&str]) -> Expression {
        let mut b = Traversal::builder(Variable::unchecked(root));
        for a in attrs {
            b = b.attr(*a);
        }
        b.build().into()
    }

    fn obj(entries: &[(&str, Expression)]) -> Expression {
        let mut o = Object::new();
        for (k, v) in entries {
            o.insert(
                ObjectKey::Identifier(Identifier::new(*k).unwrap()),
                v.clone(),
            );
        }
        Expression::Object(o)
    }

    #[test]
    fn aligns_runs_and_separates_blocks_and_meta_arguments() {
        let body = Body::builder()
            .add_block(
                Block::builder("resource")
                    .add_label("libvirt_volume")
                    .add_label("disk")
                    .add_attribute(("for_each", trav("local", &["nodes"])))
                    .add_attribute(("name", "x"))
                    .add_attribute(("capacity", 1))
                    .add_attribute((
                        "target",
                        obj(&[("format", obj(&[("type", "qcow2".into())]))]),
                    ))
                    .add_attribute(("pool", "default"))
                    .add_block(Block::builder("serial_device").build())
                    .build(),
            )
            .build();
        let text = file(&["generated".to_string()], &body);
        assert_eq!(
            text,
            r#"# generated

resource "libvirt_volume" "disk" {
  for_each = local.nodes

  name     = "x"
  capacity = 1

  target = {
    format = { type = "qcow2" }
  }

  pool = "default"

  serial_device {}
}
"#
        );
    }

    #[test]
    fn writes_for_expressions_and_operations_like_terraform() {
        let f = ForExpr::new(
            Identifier::new("node").unwrap(),
            trav("local", &["nodes"]),
            trav("node", &["address"]),
        )
        .with_key_var(Identifier::new("name").unwrap())
        .with_key_expr(Variable::unchecked("name"))
        .with_cond_expr(BinaryOp::new(
            trav("node", &["role"]),
            BinaryOperator::Eq,
            "broker",
        ));
        assert_eq!(
            one_line(&Expression::from(f)),
            r#"{ for name, node in local.nodes : name => node.address if node.role == "broker" }"#
        );
    }

    #[test]
    fn string_literals_cannot_interpolate() {
        assert_eq!(
            string("${var.x} %{ if } \"q\" \\ \n"),
            r#""$${var.x} %%{ if } \"q\" \\ \n""#
        );
    }

    /// `string` writes what hcl-rs's formatter writes, for every kind of
    /// text: markers at the start, the end, doubled, after a `$`, control
    /// characters, quotes, non-ASCII.
    #[test]
    fn string_literals_are_hcl_rs_literals() {
        let texts = [
            "",
            "a",
            "$",
            "%",
            "${",
            "%{",
            "$${",
            "%%{",
            "$$",
            "a${b}c",
            "x%{ if }y",
            "${x}${y}",
            "$x${y}",
            "$\u{e9}{",
            "\"\\\n\r\t",
            "\u{0}\u{1}\u{1f}\u{7f}",
            "é ${ü} \u{2028}",
            "trailing $",
            "trailing %",
            "{${}}",
        ];
        for s in texts {
            let hcl_rs = hcl::format::to_string(&Expression::String(s.to_string()));
            assert_eq!(string(s), hcl_rs.expect("hcl-rs formats strings"), "{s:?}");
        }
    }

    /// A hostile value stays a literal through printing and HashiCorp's
    /// grammar (as hcl-rs parses it): in a plain string and in the literal
    /// part of a template.
    #[test]
    fn hostile_values_parse_back_as_literals() {
        let hostile = "${file(\"/etc/shadow\")} %{ if true }x%{ endif } \"\n\\";
        let tmpl = crate::render::terraform::expr::template(vec![
            crate::render::terraform::expr::Part::Lit(hostile.to_string()),
            crate::render::terraform::expr::Part::Expr(trav("each", &["key"])),
        ]);
        let body = Body::builder()
            .add_attribute(("plain", hostile))
            .add_attribute(("templated", tmpl))
            .build();
        let text = file(&[], &body);
        let parsed: Body = hcl::parse(&text).unwrap();
        let attr = |k: &str| {
            parsed
                .attributes()
                .find(|a| a.key() == k)
                .unwrap()
                .expr()
                .clone()
        };
        assert_eq!(attr("plain"), Expression::String(hostile.to_string()));
        let Expression::TemplateExpr(t) = attr("templated") else {
            panic!("not a template")
        };
        let t = hcl::Template::from_expr(&t).unwrap();
        let elements = t.elements();
        assert_eq!(elements.len(), 2, "{elements:?}");
        assert!(matches!(&elements[0], hcl::template::Element::Literal(l) if l == hostile));
    }

    #[test]
    fn spreads_function_calls_with_object_arguments() {
        let call: Expression = FuncCall::builder("yamlencode")
            .arg(obj(&[
                ("version", 2.into()),
                ("ethernets", obj(&[("e", 1.into())])),
            ]))
            .build()
            .into();
        let body = Body::builder().add_attribute(("x", call)).build();
        assert_eq!(
            file(&[], &body),
            "x = yamlencode({\n  version   = 2\n  ethernets = { e = 1 }\n})\n"
        );
    }
}
