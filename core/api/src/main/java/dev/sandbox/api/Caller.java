package dev.sandbox.api;

/** Who runs {@code sandbox}: decides rootless behaviour (maps, veth, cgroups). */
public record Caller(long uid, long gid, String userName) {

    public boolean isRoot() {
        return uid == 0;
    }
}
