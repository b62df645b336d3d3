package dev.dmsg.quorum.cac;

import java.nio.charset.StandardCharsets;

/**
 * A lock's key (docs/CAC.md §1): an absolute path, {@code /} or {@code /a/b}, components
 * non-empty and not {@code .} or {@code ..}, no NUL, no trailing {@code /}, at most
 * {@value #MAX_BYTES} bytes of UTF-8.
 */
public record CacKey(String path) implements Comparable<CacKey> {
    public static final int MAX_BYTES = 512;
    public static final CacKey ROOT = new CacKey("/");

    public CacKey {
        String why = problem(path);
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
    }

    /** The key {@code path} names. @throws IllegalArgumentException naming the rule it breaks */
    public static CacKey of(String path) {
        return new CacKey(path);
    }

    /** What is wrong with {@code path} as a key, or {@code null}. */
    public static String problem(String path) {
        if (path == null || path.isEmpty()) {
            return "lock key is empty";
        }
        if (path.getBytes(StandardCharsets.UTF_8).length > MAX_BYTES) {
            return "lock key is over " + MAX_BYTES + " bytes";
        }
        if (path.charAt(0) != '/') {
            return "lock key \"" + shown(path) + "\" is not an absolute path";
        }
        if (path.indexOf('\0') >= 0) {
            return "lock key contains NUL";
        }
        if (path.length() == 1) {
            return null;
        }
        if (path.endsWith("/")) {
            return "lock key \"" + shown(path) + "\" ends with /";
        }
        for (String c : path.substring(1).split("/", -1)) {
            if (c.isEmpty() || c.equals(".") || c.equals("..")) {
                return "lock key \"" + shown(path) + "\" has an empty, . or .. component";
            }
        }
        return null;
    }

    private static String shown(String p) {
        return p.length() > 64 ? p.substring(0, 64) + "…" : p;
    }

    public boolean isRoot() {
        return path.length() == 1;
    }

    /** The parent, or {@code null} for the root. */
    public CacKey parent() {
        if (isRoot()) {
            return null;
        }
        int i = path.lastIndexOf('/');
        return i == 0 ? ROOT : new CacKey(path.substring(0, i));
    }

    /** Whether {@code other} is strictly below this key. */
    public boolean isAncestorOf(CacKey other) {
        return other.path.length() > path.length() && other.path.startsWith(subtreePrefix());
    }

    /** Whether {@code other} is directly below this key. */
    public boolean isParentOf(CacKey other) {
        return isAncestorOf(other) && other.path.indexOf('/', subtreePrefix().length()) < 0;
    }

    /** The prefix every descendant's path starts with: {@code /} for the root, {@code path/} otherwise. */
    public String subtreePrefix() {
        return isRoot() ? "/" : path + "/";
    }

    public byte[] utf8() {
        return path.getBytes(StandardCharsets.UTF_8);
    }

    @Override
    public int compareTo(CacKey o) {
        return path.compareTo(o.path);
    }

    @Override
    public String toString() {
        return path;
    }
}
