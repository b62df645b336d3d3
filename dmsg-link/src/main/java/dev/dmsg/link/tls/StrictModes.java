package dev.dmsg.link.tls;

import com.sun.security.auth.module.UnixSystem;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * Who besides this node may change its files (docs/SECURITY.md §2), as OpenSSH's StrictModes
 * asks it of {@code ~/.ssh}: whoever can write the trust store can make themselves admin, and
 * whoever can write a directory can replace the files in it — or, one level up, rename the
 * directory and put their own in its place.
 *
 * <ul>
 *   <li>a file: owned by this process's user or root, and not writable by group or others;
 *   <li>a directory and every directory above it: owned by this process's user or root, and not
 *       writable by group or others — except, above it, a sticky directory like {@code /tmp},
 *       where others may not rename or remove what is not theirs.
 * </ul>
 * Each refusal names the path, its owner or mode, who could do what, and the command that fixes
 * it. On a file system without Unix owners and modes (not Linux or macOS) nothing is checked.
 * The process's own uid comes from {@code com.sun.security.auth.module.UnixSystem}; where that
 * is missing, owners are not checked (modes still are).
 */
public final class StrictModes {
    private static final int GROUP_WRITE = 0020;
    private static final int OTHERS_WRITE = 0002;
    private static final int STICKY = 01000;
    private static final int UNKNOWN_UID = -1;
    private static final int MY_UID = myUid();

    private StrictModes() {}

    /**
     * Refuses {@code file} if someone else may change it. Nothing to check if it does not exist.
     *
     * @param couldDo what its owner or a writer could do with it ("trust themselves as admin")
     * @param fixMode the mode to suggest ("600")
     * @throws IOException naming the file, its owner or mode, and the fix
     */
    public static void checkFile(Path file, String couldDo, String fixMode) throws IOException {
        Map<String, Object> a = unixAttributes(file);
        if (a == null) {
            return;
        }
        checkOwner(file, a, couldDo);
        int mode = (Integer) a.get("mode");
        if ((mode & (GROUP_WRITE | OTHERS_WRITE)) != 0) {
            throw new IOException(file + " is writable by " + writers(mode) + " (mode " + perms(mode) + "), who could "
                + couldDo + "; make it owner-only: chmod " + fixMode + " " + file);
        }
    }

    /**
     * Refuses {@code dir} if someone else may change what is in it, or any directory above it
     * if someone else may move it. A directory that does not exist yet (it will be made) is
     * checked from its nearest existing parent up.
     *
     * @param what what it is, for the message ("data directory")
     * @param holds what a writer could replace in it ("the trust store and the node's key")
     * @throws IOException naming the directory, its owner or mode, who could do what, and the fix
     */
    public static void checkDirectory(Path dir, String what, String holds) throws IOException {
        Path p = dir.toAbsolutePath().normalize();
        boolean below = false; // p is a parent of dir, not dir itself
        while (p != null && Files.notExists(p)) {
            p = p.getParent();
            below = true;
        }
        if (p == null) {
            return;
        }
        Path given = p;
        Path top = p.toRealPath(); // the real directory counts (and, below, the ones its links live in)
        if (!below) {
            Map<String, Object> a = unixAttributes(top);
            if (a == null) {
                return;
            }
            checkOwner(top, a, "replace " + holds + " in it", what + " " + dir);
            int mode = (Integer) a.get("mode");
            if ((mode & (GROUP_WRITE | OTHERS_WRITE)) != 0) {
                throw new IOException(what + " " + dir + " is writable by " + writers(mode) + " (mode " + perms(mode)
                    + "), who could replace " + holds + " in it; make it writable by its owner only: chmod go-w "
                    + top);
            }
            top = top.getParent();
        }
        // above: the real directories, and those the path was given through (a symbolic link in a
        // directory others may write can be pointed elsewhere)
        Set<Path> above = new LinkedHashSet<>();
        for (Path up = top; up != null; up = up.getParent()) {
            above.add(up);
        }
        for (Path up = below ? given : given.getParent(); up != null; up = up.getParent()) {
            above.add(up);
        }
        for (Path up : above) {
            Map<String, Object> a = unixAttributes(up);
            if (a == null) {
                continue;
            }
            String moving = "move " + what + " " + dir + " aside and put their own in its place";
            checkOwner(up, a, moving, up + " (above " + what + " " + dir + ")");
            int mode = (Integer) a.get("mode");
            if ((mode & (GROUP_WRITE | OTHERS_WRITE)) != 0 && (mode & STICKY) == 0) {
                throw new IOException(up + " (above " + what + " " + dir + ") is writable by " + writers(mode)
                    + " (mode " + perms(mode) + ", not sticky), who could " + moving + "; chmod go-w " + up
                    + " (or chmod +t " + up + ")");
            }
        }
    }

    private static void checkOwner(Path p, Map<String, Object> a, String couldDo) throws IOException {
        checkOwner(p, a, couldDo, p.toString());
    }

    private static void checkOwner(Path p, Map<String, Object> a, String couldDo, String named) throws IOException {
        int uid = (Integer) a.get("uid");
        if (MY_UID == UNKNOWN_UID || uid == MY_UID || uid == 0) {
            return;
        }
        String owner = name(p);
        String me = System.getProperty("user.name", "?");
        throw new IOException(named + " is owned by " + owner + " (uid " + uid + "), not by this node's user (" + me
            + ", uid " + MY_UID + ") or root; " + owner + " could " + couldDo + "; chown " + me + " " + p);
    }

    /** uid, mode (with the sticky bit); {@code null} if the path does not exist or the file system has no Unix view. */
    private static Map<String, Object> unixAttributes(Path p) throws IOException {
        try {
            return Files.readAttributes(p, "unix:uid,mode");
        } catch (NoSuchFileException e) {
            return null;
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            return null; // no "unix" view here: nothing to check
        }
    }

    private static String name(Path p) {
        try {
            return Files.getOwner(p).getName();
        } catch (IOException | UnsupportedOperationException e) {
            return "?";
        }
    }

    private static String writers(int mode) {
        boolean g = (mode & GROUP_WRITE) != 0;
        boolean o = (mode & OTHERS_WRITE) != 0;
        return g && o ? "group and others" : g ? "its group" : "others";
    }

    /** "rwxr-x---", as {@link PosixFilePermissions#toString} writes it. */
    private static String perms(int mode) {
        StringBuilder b = new StringBuilder(9);
        String letters = "rwx";
        for (int bit = 8; bit >= 0; bit--) {
            b.append((mode & (1 << bit)) != 0 ? letters.charAt((8 - bit) % 3) : '-');
        }
        return b.toString();
    }

    private static int myUid() {
        try {
            return (int) new UnixSystem().getUid();
        } catch (LinkageError | RuntimeException e) { // not a Unix JDK, or the module left out of a trimmed runtime
            return UNKNOWN_UID;
        }
    }
}
