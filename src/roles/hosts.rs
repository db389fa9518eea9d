//! The `/etc/hosts` fragment every host gets.

use serde::Serialize;

use super::RoleFile;
use crate::error::Error;
use crate::plan::{paths, Plan};
use crate::render::render_template;

#[derive(Serialize)]
struct Ctx<'a> {
    plan: &'a Plan,
}

pub(super) fn render(plan: &Plan) -> Result<RoleFile, Error> {
    let text = render_template("etc-hosts", Ctx { plan })?;
    let mut file = RoleFile::root(
        "hosts/etc-hosts".into(),
        paths::ETC_HOSTS,
        plan.hosts.iter().map(|h| h.name.to_string()).collect(),
        0o644,
        text,
    );
    file.placement.append = true;
    Ok(file)
}
