//! Texts that try to break out of a Nix string, for the tests only: the
//! unit tests of [`super::nix`] read them back with a reader of Nix's
//! lexing rules, and the integration tests (`nix_tools`, through
//! `rmqgen::testing`) evaluate them with the real `nix-instantiate`.

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
