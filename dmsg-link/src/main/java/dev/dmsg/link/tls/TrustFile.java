package dev.dmsg.link.tls;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The trust store's file format (docs/SECURITY.md §2): reading {@code DATA/trusted} under
 * {@link StrictModes}, parsing it into {@link Line}s (each peer line checked by
 * {@link TrustRules}, a name or key twice refused), formatting a peer's line, and the
 * {@link Stamp} that tells one version of the file from another. No state, no locks: the
 * callers ({@link TrustStore}) serialise writers and publish snapshots.
 */
final class TrustFile {
    private static final Pattern COLUMNS = Pattern.compile("[ \t]+");
    /** What a file made by our first write starts with. */
    static final String HEADER = "# dmsg trust store (docs/SECURITY.md §2): peers trusted by key.\n"
        + "# NAME FINGERPRINT ROLE [GRANTS]   roles: admin member client; grants (client only): shell-ro,blk-read,blk-rw\n";

    private TrustFile() {}

    /**
     * What tells one version of the file from another: mtime, size, file key (inode: every
     * rename makes a new one), and its owner and permissions, so that a chown or chmod alone is
     * looked at too (neither changes the mtime).
     */
    record Stamp(Object modified, long size, Object fileKey, Object owner, Object permissions) {
        static final Stamp ABSENT = new Stamp(null, -1, null, null, null);
    }

    /** A line of the file: its text as written, and the peer on it (null for comments and blank lines). */
    record Line(int number, String text, PeerIdentity peer) {}

    static Stamp stamp(Path f) throws IOException {
        try {
            if (posix(f)) {
                PosixFileAttributes a = Files.readAttributes(f, PosixFileAttributes.class);
                return new Stamp(a.lastModifiedTime(), a.size(), a.fileKey(), a.owner(), a.permissions());
            }
            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
            return new Stamp(a.lastModifiedTime(), a.size(), a.fileKey(), null, null);
        } catch (NoSuchFileException e) {
            return Stamp.ABSENT;
        }
    }

    /**
     * The file's text, or "" if it does not exist. Refused (StrictModes) if anyone but this
     * node's user or root owns it, if group or others may write it, or if they may write its
     * directory or move it (docs/SECURITY.md §2).
     */
    static String readText(Path f) throws IOException {
        StrictModes.checkDirectory(f.getParent(), "trust store directory",
            "the trust store (" + f.getFileName() + ") and the node's key");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(f);
        } catch (NoSuchFileException e) {
            return "";
        }
        StrictModes.checkFile(f, "trust themselves as admin", "600");
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new IOException(f + ": not a text file (invalid UTF-8)", e);
        }
    }

    /**
     * The lines of {@code text}, each peer line checked.
     *
     * @throws IOException {@code FILE:LINE: what is wrong}
     */
    static List<Line> parse(String text, Path f) throws IOException {
        List<Line> lines = new ArrayList<>();
        Map<String, Integer> nameLine = new HashMap<>();
        Map<String, Line> keyLine = new HashMap<>();
        String[] raw = text.split("\r?\n", -1);
        int count = raw.length > 0 && raw[raw.length - 1].isEmpty() ? raw.length - 1 : raw.length;
        for (int i = 0; i < count; i++) {
            int number = i + 1;
            String t = raw[i];
            int hash = t.indexOf('#');
            String content = (hash >= 0 ? t.substring(0, hash) : t).strip();
            if (content.isEmpty()) {
                lines.add(new Line(number, t, null));
                continue;
            }
            PeerIdentity p;
            try {
                p = parsePeer(COLUMNS.split(content));
            } catch (IllegalArgumentException e) {
                throw new IOException(f + ":" + number + ": " + e.getMessage());
            }
            Integer seen = nameLine.putIfAbsent(p.name(), number);
            if (seen != null) {
                throw new IOException(f + ":" + number + ": duplicate name '" + p.name() + "' (already on line " + seen
                    + "; a name has one key)");
            }
            Line other = keyLine.putIfAbsent(p.fingerprint(), new Line(number, t, p));
            if (other != null) {
                throw new IOException(f + ":" + number + ": duplicate key " + p.fingerprint() + ": '" + p.name()
                    + "' here, '" + other.peer.name() + "' on line " + other.number + " (a key has one name)");
            }
            lines.add(new Line(number, t, p));
        }
        return lines;
    }

    private static PeerIdentity parsePeer(String[] cols) {
        if (cols.length < 3 || cols.length > 4) {
            throw new IllegalArgumentException((cols.length < 3 ? "too few" : "too many") + " columns: " + cols.length
                + " (NAME FINGERPRINT ROLE [GRANTS])");
        }
        String name = cols[0];
        if (!TrustRules.isName(name)) {
            throw new IllegalArgumentException(TrustRules.badName(name));
        }
        if (!Fingerprints.isFingerprint(cols[1])) {
            throw new IllegalArgumentException(TrustRules.badFingerprint(cols[1]));
        }
        Role role;
        try {
            role = Role.parse(cols[2]);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown role '" + cols[2] + "' (roles: admin, member, client)");
        }
        int grants = cols.length == 4 ? Grants.parse(cols[3]) : 0;
        PeerIdentity p = new PeerIdentity(name, cols[1], role, grants);
        String why = TrustRules.invalid(p);
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
        return p;
    }

    /** A peer's line as we write it: columns padded so that a hand-made file stays readable. */
    static String format(PeerIdentity p) {
        String s = String.format("%-16s %s  %-6s", p.name(), p.fingerprint(), p.role().word());
        return p.grants() == 0 ? s.stripTrailing() : s + "  " + Grants.format(p.grants());
    }

    static boolean posix(Path p) {
        return Files.getFileAttributeView(p, PosixFileAttributeView.class) != null;
    }

    /** Mode 0600 for a file created in {@code dir}, where the file system has modes. */
    static FileAttribute<?>[] ownerOnly(Path dir) {
        return posix(dir)
            ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))}
            : new FileAttribute<?>[0];
    }

    static void setPosix(Path p, String perms) throws IOException {
        if (posix(p)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(perms));
        }
    }
}
