// Shared by the unit tests of `src/render/nix.rs`, which read these texts
// back with a reader of Nix's lexing rules (`include!` of this file: it
// holds outer items only, hence no `//!` and no `#![allow(dead_code)]`,
// and every includer uses the one item), and `tests/nix_tools.rs`, which
// evaluates them with the real `nix-instantiate`
// (`#[path = "common/nix_hostile.rs"] mod nix_hostile;`).

/// Texts meant to break out of a Nix string: quotes, backslashes, `${`,
/// `''` and its escapes, `$`, line breaks, indentation, tabs and
/// non-ASCII text, alone and together.
pub const HOSTILE: &[&str] = &[
    "",
    "plain",
    "quote \" backslash \\ dollar $ brace {",
    "${builtins.readFile /etc/shadow}",
    "\\${x}",
    "$${x}",
    "a$",
    "$",
    "''",
    "'''",
    "''${x}",
    "'${x}",
    "x'",
    "tab\there\r\n",
    "line 1\nline 2\n",
    "  indented first\n  and second\n",
    "#!/bin/sh\necho \"${HOME}\" '$x' ''\nend'\n",
    "top\n\n  blank above, spaces after   \n",
    "\nstarts with a newline\n",
    "ends with a quote'\n'\n",
    "''\\n is not an escape here\n",
    "${a}${b}''${c}'''${d}\n",
    "\t tab first\n",
    "   \nx\n",
    "ünïcödé ✓ ${x}\n",
    "no newline at end\nreally",
    "$'''${''\n'$''\n",
    "x\n''",
];
