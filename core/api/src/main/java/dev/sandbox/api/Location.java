package dev.sandbox.api;

/** A place in a spec file; line and column are 1-based. {@code file} is the path as the user gave it. */
public record Location(String file, int line, int column) implements Comparable<Location> {

    public static final Location UNKNOWN = new Location("", 0, 0);

    @Override
    public int compareTo(Location other) {
        int byFile = file.compareTo(other.file);
        if (byFile != 0) return byFile;
        if (line != other.line) return Integer.compare(line, other.line);
        return Integer.compare(column, other.column);
    }

    @Override
    public String toString() {
        return line > 0 ? file + ":" + line + ":" + column : file;
    }
}
