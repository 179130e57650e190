package dev.sandbox.engine.export;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.sandbox.engine.review.EffectiveSpec;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/** Specs and a seccomp source shared by the export and import tests. */
final class ExportFixtures {

    static final Path EXAMPLES = Path.of("../../examples").toAbsolutePath().normalize();

    /** Every key with an OCI field, and several without one. Host paths are relative to the spec's directory. */
    static final String RICH = """
            apiVersion: sandbox/v1
            kind: Sandbox
            name: rich
            namespaces:
              user:
                uidMap: [{inside: 0, outside: 100000, count: 65536}]
                gidMap: [{inside: 0, outside: 100000, count: 65536}]
              mount:
                root: {type: tmpfs, size: 64M}
                readonlyRoot: true
                rootPropagation: rslave
                mounts:
                  - {type: bind, source: /usr, target: /usr, readonly: true, options: [nodev]}
                  - {type: bind, source: data, target: /data, propagation: rshared}
                  - {type: tmpfs, target: /tmp, size: 16M, mode: "0700", options: [noexec]}
                  - {type: proc, target: /proc}
                  - {type: sysfs, target: /sys, readonly: true}
                  - {type: dev, target: /dev}
                  - {type: mqueue, target: /dev/mqueue}
                  - {type: overlay, lower: [l1, l2], upper: up, work: wk, target: /ovl}
                masks: [/etc/shadow]
                readonlyPaths: [/proc/sys]
              pid: {init: true}
              uts: {hostname: rich-box, domainname: lab.test}
              ipc: {}
              net:
                loopback: false
                links: [{type: veth, name: eth0, address: 198.18.0.2/30, hostAddress: 198.18.0.1/30}]
              cgroup: {join: {sandbox: other}}
              time: {offsets: {monotonic: -1.5, boottime: 3600}}
            process:
              command: [/bin/app, --flag]
              env: {A: "1", B: two}
              cwd: /work
              user: {uid: 1000, gid: 1000, groups: [10, 20]}
              capabilities: [net_bind_service, CAP_CHOWN]
              noNewPrivileges: false
              seccomp: profile.json
            """;

    private ExportFixtures() {}

    static LoadedSpec parse(Path file, String yaml) {
        LoadedSpec spec = new SpecLoader().parse(file, file.getFileName().toString(), yaml);
        assertNotNull(spec.root(), spec.diagnostics().toString());
        return spec;
    }

    static EffectiveSpec model(Path file, String yaml, long callerUid) {
        return EffectiveSpec.of(parse(file, yaml).root(), callerUid, callerUid);
    }

    /** The built-in profile of these tests (DockerSeccompTest's), and profile files read from disk. */
    static SeccompProfiles profiles() {
        return () -> Optional.of(DockerSeccompTest.PROFILE.getBytes(StandardCharsets.UTF_8));
    }

    static List<Path> examples() {
        try (Stream<Path> files = Files.list(EXAMPLES)) {
            return files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
