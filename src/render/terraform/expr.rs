//! Small constructors over hcl-rs's expression types, so the module reads
//! like the HCL it produces. Names that come from the spec (secret variable
//! names, Terraform names) go through [`ident`], which fails instead of
//! panicking on an invalid identifier.

use hcl::expr::{
    BinaryOp, BinaryOperator, Expression, ForExpr, FuncCall, ObjectKey, TemplateExpr, Traversal,
    Variable,
};
use hcl::structure::{Block, BlockBuilder};
use hcl::{Identifier, Object};

use super::fmt;
use crate::error::Error;

/// An identifier, or an internal error if `s` is not one (validation keeps
/// spec values that become identifiers valid).
pub(crate) fn ident(s: &str) -> Result<Identifier, Error> {
    Identifier::new(s.to_string())
        .map_err(|e| Error::Internal(format!("`{s}` is not an HCL identifier: {e}")))
}

/// A reference: `root.attr.attr...` (`local.nodes`, `var.base_image`,
/// `libvirt_volume.base.path`).
pub(crate) fn path(root: &str, attrs: &[&str]) -> Result<Expression, Error> {
    let root = Variable::from(ident(root)?);
    if attrs.is_empty() {
        return Ok(Expression::Variable(root));
    }
    let mut b = Traversal::builder(root);
    for a in attrs {
        b = b.attr(ident(a)?);
    }
    Ok(b.build().into())
}

/// `each.key`.
pub(crate) fn each_key() -> Result<Expression, Error> {
    path("each", &["key"])
}

/// `each.value.<field>`.
pub(crate) fn each_value(field: &str) -> Result<Expression, Error> {
    path("each", &["value", field])
}

/// `<resource_type>.<name>[each.key].<attr>`: the instance of a `for_each`
/// resource that belongs to the same node.
pub(crate) fn same_node(resource: &str, name: &str, attr: &str) -> Result<Expression, Error> {
    Ok(Traversal::builder(Variable::from(ident(resource)?))
        .attr(ident(name)?)
        .index(each_key()?)
        .attr(ident(attr)?)
        .build()
        .into())
}

/// A function call.
pub(crate) fn call(name: &str, args: impl IntoIterator<Item = Expression>) -> Expression {
    let mut b = FuncCall::builder(name);
    for a in args {
        b = b.arg(a);
    }
    b.build().into()
}

/// `lhs op rhs`.
pub(crate) fn op(lhs: Expression, operator: BinaryOperator, rhs: Expression) -> Expression {
    BinaryOp::new(lhs, operator, rhs).into()
}

/// A part of a string template.
pub(crate) enum Part {
    /// Literal text (escaped: it can never start an interpolation).
    Lit(String),
    /// `${expr}`.
    Expr(Expression),
}

/// A quoted string template such as `"${each.key}.qcow2"`. Literal parts are
/// escaped as string literals (quotes, backslashes, `${`, `%{`); only the
/// `Expr` parts interpolate.
pub(crate) fn template(parts: Vec<Part>) -> Result<Expression, Error> {
    let mut s = String::new();
    for part in parts {
        match part {
            Part::Lit(text) => {
                let quoted = fmt::string(&text)?;
                s.push_str(&quoted[1..quoted.len() - 1]);
            }
            Part::Expr(e) => {
                s.push_str("${");
                s.push_str(&fmt::inline(&e)?);
                s.push('}');
            }
        }
    }
    Ok(TemplateExpr::QuotedString(s).into())
}

/// An object with identifier keys (the schema's own names).
pub(crate) fn object<'a>(
    entries: impl IntoIterator<Item = (&'a str, Expression)>,
) -> Result<Expression, Error> {
    let mut o = Object::new();
    for (k, v) in entries {
        o.insert(ObjectKey::Identifier(ident(k)?), v);
    }
    Ok(Expression::Object(o))
}

/// An object with quoted string keys (data: host names, interface names,
/// keys with characters an identifier cannot hold).
pub(crate) fn string_map(entries: impl IntoIterator<Item = (String, Expression)>) -> Expression {
    let mut o = Object::new();
    for (k, v) in entries {
        o.insert(ObjectKey::Expression(Expression::String(k)), v);
    }
    Expression::Object(o)
}

/// A list.
pub(crate) fn list(items: impl IntoIterator<Item = Expression>) -> Expression {
    Expression::Array(items.into_iter().collect())
}

/// `{ for <key>, <value> in <collection> : <key> => <value_expr> if <cond> }`.
pub(crate) fn for_map(
    key: &str,
    value: &str,
    collection: Expression,
    value_expr: Expression,
    cond: Option<Expression>,
) -> Result<Expression, Error> {
    let mut f = ForExpr::new(ident(value)?, collection, value_expr)
        .with_key_var(ident(key)?)
        .with_key_expr(Variable::from(ident(key)?));
    if let Some(c) = cond {
        f = f.with_cond_expr(c);
    }
    Ok(f.into())
}

/// A type constraint keyword (`string`, `bool`, `number`).
pub(crate) fn type_keyword(name: &str) -> Result<Expression, Error> {
    path(name, &[])
}

/// `resource "<type>" "<name>" { ... }`, started.
pub(crate) fn resource(kind: &str, name: &str) -> BlockBuilder {
    Block::builder("resource").add_label(kind).add_label(name)
}

/// `lifecycle { ignore_changes = [...] }` over the resource's own
/// attributes or nested blocks.
pub(crate) fn ignore_changes(names: &[&str]) -> Result<Block, Error> {
    let names = names
        .iter()
        .map(|a| path(a, &[]))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Block::builder("lifecycle")
        .add_attribute(("ignore_changes", list(names)))
        .build())
}
