//! Small constructors over hcl-rs's expression types, so the module reads
//! like the HCL it produces. Names that come from the spec (secret variable
//! names, Terraform names) go through [`ident`], which never panics.

use hcl::expr::{
    BinaryOp, BinaryOperator, Expression, ForExpr, FuncCall, ObjectKey, TemplateExpr, Traversal,
    Variable,
};
use hcl::structure::{Block, BlockBuilder};
use hcl::{Identifier, Object};

use super::fmt;

/// The identifier `s`. Every name passed here is a literal of this module
/// or a spec value validation keeps to identifier characters (secret
/// variable names, `tf_ident` names), so it is one already; sanitising
/// (which leaves an identifier unchanged) makes this total.
pub(crate) fn ident(s: &str) -> Identifier {
    Identifier::sanitized(s)
}

/// A reference: `root.attr.attr...` (`local.nodes`, `var.base_image`,
/// `libvirt_volume.base.path`).
pub(crate) fn path(root: &str, attrs: &[&str]) -> Expression {
    let root = Variable::from(ident(root));
    if attrs.is_empty() {
        return Expression::Variable(root);
    }
    let mut b = Traversal::builder(root);
    for a in attrs {
        b = b.attr(ident(a));
    }
    b.build().into()
}

/// `each.key`.
pub(crate) fn each_key() -> Expression {
    path("each", &["key"])
}

/// `each.value.<field>`.
pub(crate) fn each_value(field: &str) -> Expression {
    path("each", &["value", field])
}

/// `<resource_type>.<name>[each.key].<attr>`: the instance of a `for_each`
/// resource that belongs to the same node.
pub(crate) fn same_node(resource: &str, name: &str, attr: &str) -> Expression {
    Traversal::builder(Variable::from(ident(resource)))
        .attr(ident(name))
        .index(each_key())
        .attr(ident(attr))
        .build()
        .into()
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
pub(crate) fn template(parts: Vec<Part>) -> Expression {
    let mut s = String::new();
    for part in parts {
        match part {
            Part::Lit(text) => {
                let quoted = fmt::string(&text);
                s.push_str(&quoted[1..quoted.len() - 1]);
            }
            Part::Expr(e) => {
                s.push_str("${");
                s.push_str(&fmt::inline(&e));
                s.push('}');
            }
        }
    }
    TemplateExpr::QuotedString(s).into()
}

/// An object with identifier keys (the schema's own names).
pub(crate) fn object<'a>(entries: impl IntoIterator<Item = (&'a str, Expression)>) -> Expression {
    let mut o = Object::new();
    for (k, v) in entries {
        o.insert(ObjectKey::Identifier(ident(k)), v);
    }
    Expression::Object(o)
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
) -> Expression {
    let mut f = ForExpr::new(ident(value), collection, value_expr)
        .with_key_var(ident(key))
        .with_key_expr(Variable::from(ident(key)));
    if let Some(c) = cond {
        f = f.with_cond_expr(c);
    }
    f.into()
}

/// A type constraint keyword (`string`, `bool`, `number`).
pub(crate) fn type_keyword(name: &str) -> Expression {
    path(name, &[])
}

/// `resource "<type>" "<name>" { ... }`, started.
pub(crate) fn resource(kind: &str, name: &str) -> BlockBuilder {
    Block::builder("resource").add_label(kind).add_label(name)
}

/// `lifecycle { ignore_changes = [...] }` over the resource's own
/// attributes or nested blocks.
pub(crate) fn ignore_changes(names: &[&str]) -> Block {
    let names = names.iter().map(|a| path(a, &[])).collect::<Vec<_>>();
    Block::builder("lifecycle")
        .add_attribute(("ignore_changes", list(names)))
        .build()
}
