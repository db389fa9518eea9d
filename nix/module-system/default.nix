# A small NixOS module system of rmqgen's own: exactly the part of
# nixpkgs' `lib` that rmqgen's modules (modules/*.nix), the NixOS stand-ins
# (nix/nixos-stubs.nix, nix/service-stubs.nix) and nix/eval-files.nix use,
# so that the module checks of tests/nix_tools.rs run where nixpkgs cannot
# be fetched (CI). Where nixpkgs' lib is at hand the same checks run
# against it too, and must give the same results.
#
# What it does as nixpkgs' lib/modules.nix does:
# - `evalModules`: modules are paths, functions or attribute sets, with
#   `imports` (deduplicated by path), `options`, `config`, `freeformType`,
#   or shorthand (the whole set is `config`); `config` is a lazy fixed point;
# - option declarations (`mkOption`) with defaults (priority 1500), examples
#   and types; a definition of an undeclared option is an error ("does not
#   exist"), and so is a declaration repeated, an option read without a
#   value, and a value that is not of the option's type;
# - `mkIf` (pushed down into attribute sets, so a condition may read
#   `config`), `mkMerge`, `mkOverride` / `mkDefault` / `mkForce` (only the
#   definitions of the highest priority count), `mkBefore` / `mkAfter`;
# - types as records { name, description, check, merge }: str, lines, bool,
#   int ranges, port, enum, strMatching, path, package, anything,
#   unspecified, nullOr, listOf, attrsOf, lazyAttrsOf, submodule (with
#   freeformType), mkOptionType; merged as nixpkgs merges them (equal values
#   only, lines joined by a line break, lists concatenated, ...);
# - `optionAttrSetToDocList`, enough to list options with their defaults
#   and examples.
# `assertions` and `warnings` are ordinary options (nix/nixos-stubs.nix
# declares them, as NixOS does); nix/eval-files.nix reports them.
let
  inherit (builtins)
    all
    any
    attrNames
    concatLists
    concatMap
    concatStringsSep
    elem
    filter
    foldl'
    functionArgs
    genList
    head
    intersectAttrs
    isAttrs
    isBool
    isFunction
    isInt
    isList
    isPath
    isString
    length
    listToAttrs
    mapAttrs
    match
    replaceStrings
    split
    stringLength
    substring
    tail
    typeOf
    zipAttrsWith
    ;

  id = x: x;
  isType = t: v: isAttrs v && (v._type or null) == t;
  showOption = concatStringsSep ".";
  showFiles = defs: concatStringsSep ", " (map (d: "`${d.file}'") defs);
  isStringLike = x: isString x || isPath x || (isAttrs x && (x ? outPath || x ? __toString));
  imap0 = f: list: genList (i: f i (builtins.elemAt list i)) (length list);
  imap1 = f: imap0 (i: f (i + 1));
  optional = cond: x: if cond then [ x ] else [ ];
  optionalAttrs = cond: set: if cond then set else { };
  filterAttrs =
    pred: set:
    listToAttrs (
      concatMap (n: optional (pred n set.${n}) {
        name = n;
        value = set.${n};
      }) (attrNames set)
    );
  regexSpecials = [
    "\\"
    "["
    "{"
    "("
    ")"
    "^"
    "$"
    "?"
    "*"
    "+"
    "|"
    "."
  ];
  escapeRegex = replaceStrings regexSpecials (map (c: "\\${c}") regexSpecials);
  hasPrefix = p: s: substring 0 (stringLength p) s == p;
  hasSuffix =
    p: s:
    let
      lp = stringLength p;
      ls = stringLength s;
    in
    lp <= ls && substring (ls - lp) lp s == p;

  # --- definitions and their properties ---------------------------------

  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkOverride = priority: content: {
    _type = "override";
    inherit priority content;
  };
  mkOptionDefault = mkOverride 1500;
  mkOrder = priority: content: {
    _type = "order";
    inherit priority content;
  };

  # A definition of an attribute set (above the options) as a list of
  # attribute sets whose values carry its mkIf / mkOverride: the condition
  # is not evaluated here, so it may depend on config.
  pushDown =
    v:
    if isType "merge" v then
      concatMap pushDown v.contents
    else if isType "if" v then
      map (mapAttrs (_: mkIf v.condition)) (pushDown v.content)
    else if isType "override" v then
      map (mapAttrs (_: mkOverride v.priority)) (pushDown v.content)
    else
      [ v ];
  pushDefs = concatMap (
    d:
    map (value: {
      inherit (d) file;
      inherit value;
    }) (pushDown d.value)
  );

  # A definition of an option's value: mkMerge flattened, mkIf decided.
  discharge =
    v:
    if isType "merge" v then
      concatMap discharge v.contents
    else if isType "if" v then
      if isBool v.condition then
        (if v.condition then discharge v.content else [ ])
      else
        throw "‘mkIf’ called with a non-Boolean condition"
    else
      [ v ];

  priorityOf = d: if isType "override" d.value then d.value.priority else 100;
  orderOf = d: if isType "order" d.value then d.value.priority else 1000;

  # The definitions of one option that count, merged by its type.
  mergeDefinitions =
    loc: type: defs:
    let
      discharged = concatMap (
        d:
        map (value: {
          inherit (d) file;
          inherit value;
        }) (discharge d.value)
      ) defs;
      highest = foldl' (p: d: if priorityOf d < p then priorityOf d else p) 9999 discharged;
      strip = d: if isType "override" d.value then d // { value = d.value.content; } else d;
      kept = map strip (filter (d: priorityOf d == highest) discharged);
      sorted = map (d: if isType "order" d.value then d // { value = d.value.content; } else d) (
        builtins.sort (a: b: orderOf a < orderOf b) kept
      );
      invalid = filter (d: !type.check d.value) sorted;
      merged =
        if invalid == [ ] then
          type.merge loc sorted
        else
          throw "A definition for option `${showOption loc}' is not of type `${type.description}'. Definition values: in ${showFiles invalid}";
    in
    {
      isDefined = sorted != [ ];
      mergedValue = merged;
      optionalValue = if sorted != [ ] then { value = merged; } else { };
    };

  # --- options and types ------------------------------------------------

  mkOption = args: args // { _type = "option"; };
  isOption = isType "option";
  mkEnableOption =
    name:
    mkOption {
      default = false;
      example = true;
      type = types.bool;
      description = "Whether to enable ${name}.";
    };
  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };

  mergeEqualOption =
    loc: defs:
    if length defs == 1 then
      (head defs).value
    else
      (foldl' (
        first: d:
        if d.value != first.value then
          throw "The option `${showOption loc}' has conflicting definition values: in ${showFiles defs}"
        else
          first
      ) (head defs) (tail defs)).value;

  mergeOneOption =
    loc: defs:
    if length defs == 1 then
      (head defs).value
    else
      throw "The option `${showOption loc}' is defined multiple times while it's expected to be unique: in ${showFiles defs}";

  mergeDefaultOption =
    loc: defs:
    let
      list = map (d: d.value) defs;
    in
    if length list == 1 then
      head list
    else if all isList list then
      concatLists list
    else if all isAttrs list then
      foldl' (a: b: a // b) { } list
    else if all isBool list then
      any id list
    else if all isString list then
      concatStringsSep "" list
    else
      throw "Cannot merge definitions of `${showOption loc}'. Definition values: in ${showFiles defs}";

  mkOptionType =
    {
      name,
      description ? name,
      check ? (_: true),
      merge ? mergeDefaultOption,
      ...
    }@args:
    args
    // {
      _type = "option-type";
      inherit
        name
        description
        check
        merge
        ;
    };

  simple =
    name: check:
    mkOptionType {
      inherit name check;
      merge = mergeEqualOption;
    };

  intBetween =
    lo: hi:
    simple "intBetween" (x: isInt x && x >= lo && x <= hi)
    // {
      description = "integer between ${toString lo} and ${toString hi} (both inclusive)";
    };

  attrsOfWith =
    lazy: elemType:
    mkOptionType {
      name = if lazy then "lazyAttrsOf" else "attrsOf";
      description = "attribute set of ${elemType.description}";
      check = isAttrs;
      merge =
        loc: defs:
        let
          byName = zipAttrsWith (name: defs: mergeDefinitions (loc ++ [ name ]) elemType defs) (
            map (
              d:
              mapAttrs (_: value: {
                inherit (d) file;
                inherit value;
              }) d.value
            ) (pushDefs defs)
          );
        in
        if lazy then
          mapAttrs (
            name: r:
            if r.isDefined then
              r.mergedValue
            else
              throw "The option `${showOption (loc ++ [ name ])}' was accessed but has no value defined. Try setting the option."
          ) byName
        else
          mapAttrs (_: r: r.value) (filterAttrs (_: r: r ? value) (mapAttrs (_: r: r.optionalValue) byName));
    };

  types = rec {
    inherit mkOptionType;
    str = simple "str" isString // {
      description = "string";
    };
    lines = mkOptionType {
      name = "separatedString";
      description = "strings concatenated with \"\\n\"";
      check = isString;
      merge = _: defs: concatStringsSep "\n" (map (d: d.value) defs);
    };
    bool = simple "bool" isBool // {
      description = "boolean";
    };
    int = simple "int" isInt // {
      description = "signed integer";
    };
    ints = {
      between = intBetween;
      positive = simple "positiveInt" (x: isInt x && x > 0) // {
        description = "positive integer, meaning >0";
      };
      unsigned = simple "unsignedInt" (x: isInt x && x >= 0) // {
        description = "unsigned integer, meaning >=0";
      };
      u16 = intBetween 0 65535;
    };
    port = ints.u16;
    enum =
      values:
      simple "enum" (x: elem x values)
      // {
        description = "one of ${concatStringsSep ", " (map builtins.toJSON values)}";
      };
    strMatching =
      pattern:
      simple "strMatching ${builtins.toJSON pattern}" (x: isString x && match pattern x != null)
      // {
        description = "string matching the pattern ${pattern}";
      };
    path = simple "path" (x: isStringLike x && substring 0 1 (toString x) == "/") // {
      description = "absolute path";
    };
    package = mkOptionType {
      name = "package";
      description = "package";
      check = x: (isAttrs x && (x.type or null) == "derivation") || (isString x && hasPrefix builtins.storeDir x);
      merge = mergeOneOption;
    };
    unspecified = mkOptionType {
      name = "unspecified";
      description = "unspecified value";
    };
    anything = mkOptionType {
      name = "anything";
      description = "anything";
      merge =
        loc: defs:
        let
          typeOfDef = d: if isAttrs d.value && isStringLike d.value then "stringCoercibleSet" else typeOf d.value;
          common = foldl' (
            t: d:
            if typeOfDef d == t then
              t
            else
              throw "The option `${showOption loc}' has conflicting option types in ${showFiles defs}"
          ) (typeOfDef (head defs)) defs;
        in
        (
          {
            set = (attrsOf anything).merge;
            stringCoercibleSet = mergeOneOption;
          }
          .${common} or mergeEqualOption
        )
          loc
          defs;
    };
    nullOr =
      elemType:
      mkOptionType {
        name = "nullOr";
        description = "null or ${elemType.description}";
        check = x: x == null || elemType.check x;
        merge =
          loc: defs:
          let
            nulls = filter (d: d.value == null) defs;
          in
          if length nulls == length defs then
            null
          else if nulls == [ ] then
            elemType.merge loc defs
          else
            throw "The option `${showOption loc}' is defined both null and not null, in ${showFiles defs}.";
      };
    listOf =
      elemType:
      mkOptionType {
        name = "listOf";
        description = "list of ${elemType.description}";
        check = isList;
        merge =
          loc: defs:
          map (x: x.value) (
            filter (x: x ? value) (
              concatLists (
                imap1 (
                  n: d:
                  imap1 (
                    m: value:
                    (mergeDefinitions (loc ++ [ "[definition ${toString n}-entry ${toString m}]" ]) elemType [
                      {
                        inherit (d) file;
                        inherit value;
                      }
                    ]).optionalValue
                  ) d.value
                ) defs
              )
            )
          );
      };
    attrsOf = attrsOfWith false;
    lazyAttrsOf = attrsOfWith true;
    submodule =
      module:
      mkOptionType {
        name = "submodule";
        description = "submodule";
        check = x: isAttrs x || isFunction x || isPath x;
        merge =
          loc: defs:
          (evalModulesAt loc {
            modules = [ module ] ++ map (
              d:
              if isAttrs d.value then
                {
                  _file = d.file;
                  config = d.value;
                }
              else
                d.value
            ) defs;
          }).config;
      };
  };

  # --- evaluation -------------------------------------------------------

  # One module, called with the arguments it names, in its full form.
  load =
    args: key: m:
    let
      fromFile = isPath m || isString m;
      f = if fromFile then import m else m;
      v = if isFunction f then f (intersectAttrs (functionArgs f) args) else f;
      # As nixpkgs: with `options` or `config` a module may have only the
      # module keys; without, everything but those is `config`.
      keys = [
        "_file"
        "key"
        "imports"
        "options"
        "config"
        "freeformType"
        "meta"
      ];
      full = v ? options || v ? config;
      extra = attrNames (removeAttrs v keys);
      file = if fromFile then toString m else v._file or key;
    in
    if full && extra != [ ] then
      throw "Module `${file}' has an unsupported attribute `${head extra}'."
    else
      {
        inherit key file;
        imports = v.imports or [ ];
        options = v.options or { };
        config = if full then v.config or { } else removeAttrs v keys;
        freeformType = v.freeformType or null;
      };

  keyOf = parent: i: m: if isPath m || isString m then toString m else "${parent}:${toString i}";

  # The declarations of all modules as one tree; each option knows its
  # location.
  mergeDeclarations =
    loc: trees:
    zipAttrsWith (
      name: subs:
      let
        at = loc ++ [ name ];
      in
      if any isOption subs then
        if length subs == 1 then
          head subs // { loc = at; }
        else
          throw "The option `${showOption at}' is already declared in more than one module."
      else
        mergeDeclarations at subs
    ) trees;

  # Definitions of names nothing declares (without a freeform type).
  unmatched =
    loc: decls: defs:
    concatMap (
      d:
      concatMap (
        name:
        if !(decls ? ${name}) then
          [ "The option `${showOption (loc ++ [ name ])}' does not exist. Definition values: in `${d.file}'" ]
        else if isOption decls.${name} then
          [ ]
        else
          unmatched (loc ++ [ name ]) decls.${name} [
            {
              inherit (d) file;
              value = d.value.${name};
            }
          ]
      ) (attrNames d.value)
    ) (pushDefs defs);

  # The values of a tree of declarations from its definitions.
  evalTree =
    loc: decls: freeformType: defs:
    let
      pushed = pushDefs defs;
      defsOf =
        name:
        concatMap (
          d:
          optional (d.value ? ${name}) {
            inherit (d) file;
            value = d.value.${name};
          }
        ) pushed;
      declared = mapAttrs (
        name: decl:
        if isOption decl then
          evalOption (loc ++ [ name ]) decl (defsOf name)
        else
          evalTree (loc ++ [ name ]) decl null (defsOf name)
      ) decls;
      free =
        if freeformType == null then
          { }
        else
          freeformType.merge loc (
            map (d: d // { value = removeAttrs d.value (attrNames decls); }) pushed
          );
    in
    free // declared;

  evalOption =
    loc: opt: defs:
    let
      type = opt.type or types.unspecified;
      withDefault =
        optional (opt ? default) {
          file = "the default of ${showOption loc}";
          value = mkOptionDefault opt.default;
        }
        ++ defs;
      r = mergeDefinitions loc type withDefault;
    in
    if r.isDefined then
      (opt.apply or id) r.mergedValue
    else
      throw "The option `${showOption loc}' was accessed but has no value defined. Try setting the option.";

  evalModulesAt =
    prefix:
    {
      modules,
      specialArgs ? { },
    }:
    let
      args = {
        inherit config lib;
        options = declarations;
      }
      // specialArgs;
      closure = builtins.genericClosure {
        startSet = imap0 (i: m: {
          key = keyOf "<root>" i m;
          module = m;
        }) modules;
        operator =
          item:
          imap0 (i: m: {
            key = keyOf item.key i m;
            module = m;
          }) (load args item.key item.module).imports;
      };
      loaded = map (item: load args item.key item.module) closure;
      declarations = mergeDeclarations prefix (map (m: m.options) loaded);
      freeforms = filter (t: t != null) (map (m: m.freeformType) loaded);
      freeformType = if freeforms == [ ] then null else head freeforms;
      defs = map (m: {
        inherit (m) file;
        value = m.config;
      }) loaded;
      errors = if freeformType == null then unmatched prefix declarations defs else [ ];
      config =
        if errors != [ ] then throw (head errors) else evalTree prefix declarations freeformType defs;
    in
    {
      inherit config;
      options = declarations;
    };

  optionAttrSetToDocList =
    tree:
    concatLists (
      map (
        name:
        let
          v = tree.${name};
        in
        if isOption v then
          [
            (
              {
                name = showOption v.loc;
                description = v.description or null;
              }
              // optionalAttrs (v ? default || v ? defaultText) { default = v.defaultText or v.default; }
              // optionalAttrs (v ? example) { inherit (v) example; }
            )
          ]
        else
          optionAttrSetToDocList v
      ) (attrNames tree)
    );

  lib = {
    inherit
      all
      any
      attrNames
      concatMap
      concatStringsSep
      filter
      filterAttrs
      hasPrefix
      hasSuffix
      imap0
      imap1
      literalExpression
      mergeEqualOption
      mkEnableOption
      mkIf
      mkMerge
      mkOption
      mkOptionType
      mkOverride
      mapAttrs
      optional
      optionalAttrs
      optionAttrSetToDocList
      replaceStrings
      types
      ;
    evalModules = evalModulesAt [ ];
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
    mkBefore = mkOrder 500;
    mkAfter = mkOrder 1500;
    optionalString = cond: s: if cond then s else "";
    removePrefix = p: s: if hasPrefix p s then substring (stringLength p) (-1) s else s;
    removeSuffix =
      p: s: if hasSuffix p s then substring 0 (stringLength s - stringLength p) s else s;
    hasInfix = infix: s: length (split (escapeRegex infix) s) > 1;
    splitString = sep: s: filter isString (split (escapeRegex sep) s);
    last = list: builtins.elemAt list (length list - 1);
    toList = x: if isList x then x else [ x ];
    mod = a: b: a - (a / b) * b;
    mapAttrs' = f: set: listToAttrs (map (n: f n set.${n}) (attrNames set));
    fixedWidthNumber =
      width: n:
      let
        s = toString n;
        pad = width - stringLength s;
      in
      concatStringsSep "" (genList (_: "0") (if pad > 0 then pad else 0)) + s;
    versions.majorMinor =
      v: concatStringsSep "." (builtins.genList (i: builtins.elemAt (builtins.splitVersion v) i) 2);
    escapeShellArg =
      arg:
      let
        s = toString arg;
      in
      if match "[[:alnum:],._+:@%/-]+" s == null then "'${replaceStrings [ "'" ] [ "'\\''" ] s}'" else s;
    getExe = p: "${p}/bin/${p.meta.mainProgram}";
  };
in
lib
