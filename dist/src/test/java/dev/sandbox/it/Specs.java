package dev.sandbox.it;

/** Spec fragments the end-to-end tests share. */
final class Specs {

    private Specs() {}

    /** The mounts of a minimal root: the host's /usr, /bin, /lib, /lib64 read-only, a new /proc, a minimal /dev. Indented for {@code mounts:}. */
    static final String SYSTEM_MOUNTS = """
                  - {type: bind, source: /usr, target: /usr, readonly: true}
                  - {type: bind, source: /bin, target: /bin, readonly: true}
                  - {type: bind, source: /lib, target: /lib, readonly: true}
                  - {type: bind, source: /lib64, target: /lib64, readonly: true}
                  - {type: proc, target: /proc}
                  - {type: dev, target: /dev}
            """;

    /** A spec body with every namespace type new (time excepted), a tmpfs root and {@code command} (a YAML flow list). */
    static String isolated(String extraNamespaces, String command) {
        return """
                namespaces:
                  user: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s  pid: {}
                  uts: {hostname: box}
                  ipc: {}
                  net: {}
                  cgroup: {}
                %s
                process:
                  command: %s
                """.formatted(SYSTEM_MOUNTS, extraNamespaces.isEmpty() ? "" : extraNamespaces.indent(2), command);
    }
}
