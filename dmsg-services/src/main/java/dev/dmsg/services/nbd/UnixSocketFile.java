package dev.dmsg.services.nbd;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.Objects;
import java.util.Set;

/**
 * The file system side of a Unix-socket listener (docs/BLK.md "Unix socket"): where the socket
 * goes, who may connect (its mode and group), and that it never replaces anything but a stale
 * socket and is removed on close.
 *
 * <p>No window with the wrong permissions: the socket is bound inside a fresh directory only we
 * can enter (0700, beside the final path), given its mode and group there, and then hard-linked
 * into place — {@code link(2)} fails if the path exists, so nothing that appeared since the check
 * is replaced — and the temporary name removed. {@link #remove} deletes the path only if it is
 * still our socket (same inode), never one that someone else put there since.
 */
public final class UnixSocketFile {
    /** Longest socket path Linux takes ({@code sun_path} is 108 bytes with its NUL). */
    static final int MAX_PATH_BYTES = 107;
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    private final Path path;
    private final Set<PosixFilePermission> mode;
    private final String group;
    private Object fileKey;

    /**
     * @param path where clients connect
     * @param mode the socket's permission bits, e.g. {@code "rw-------"} (0600: only this user)
     * @param group the socket's group, or {@code null} to leave the default
     */
    public UnixSocketFile(Path path, Set<PosixFilePermission> mode, String group) {
        this.path = Objects.requireNonNull(path, "path").toAbsolutePath().normalize();
        this.mode = Set.copyOf(mode);
        this.group = group;
        int bytes = this.path.toString().getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("socket path " + this.path + " is " + bytes + " bytes > max "
                + MAX_PATH_BYTES + " (sun_path)");
        }
    }

    /** Parses an octal mode such as {@code 600} or {@code 0660}. */
    public static Set<PosixFilePermission> parseMode(String octal) {
        if (!octal.matches("0?[0-7]{3}")) {
            throw new IllegalArgumentException("socket mode '" + octal + "': three octal digits such as 600 or 0660");
        }
        int m = Integer.parseInt(octal, 8);
        StringBuilder s = new StringBuilder();
        String rwx = "rwx";
        for (int bit = 8; bit >= 0; bit--) {
            s.append((m & (1 << bit)) != 0 ? rwx.charAt(2 - bit % 3) : '-');
        }
        return PosixFilePermissions.fromString(s.toString());
    }

    public Path path() {
        return path;
    }

    public Set<PosixFilePermission> mode() {
        return mode;
    }

    /**
     * Checks that {@link #path} is free: absent, or a stale socket (nothing accepts on it), which
     * is removed. Anything else is refused.
     *
     * @throws IOException naming what is there
     */
    void clear() throws IOException {
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS)) {
            Path parent = path.getParent();
            if (parent == null || !Files.isDirectory(parent)) {
                throw new IOException("socket path " + path + ": no directory " + parent);
            }
            return;
        }
        int m = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        if ((m & S_IFMT) != S_IFSOCK) {
            throw new FileAlreadyExistsException(path.toString(), null,
                "exists and is not a socket (" + kind(m) + "); not replaced");
        }
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            c.connect(UnixDomainSocketAddress.of(path));
        } catch (ConnectException e) {
            Files.delete(path); // stale: its server is gone
            return;
        }
        throw new FileAlreadyExistsException(path.toString(), null, "a server is listening on it already");
    }

    /** A private directory beside the final path in which to bind. */
    Path bindDirectory() throws IOException {
        return Files.createTempDirectory(path.getParent(), "." + path.getFileName() + ".",
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }

    /** Gives the socket bound at {@code bound} its mode and group, then links it to {@link #path}. */
    void publish(Path bound) throws IOException {
        Files.setPosixFilePermissions(bound, mode);
        if (group != null) {
            PosixFileAttributeView view = Files.getFileAttributeView(bound, PosixFileAttributeView.class,
                LinkOption.NOFOLLOW_LINKS);
            GroupPrincipal g;
            try {
                g = bound.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByGroupName(group);
            } catch (UserPrincipalNotFoundException e) {
                throw new IOException("socket group '" + group + "': no such group");
            }
            view.setGroup(g);
        }
        Files.createLink(path, bound); // fails if anything appeared at path since clear()
        fileKey = Files.readAttributes(path, BasicFileAttributes.class,
            LinkOption.NOFOLLOW_LINKS).fileKey();
    }

    /** Removes the temporary directory and name of a bind (after publishing, or after a failure). */
    static void discard(Path bindDir, Path bound) {
        try {
            Files.deleteIfExists(bound);
            Files.deleteIfExists(bindDir);
        } catch (IOException e) {
            // left behind in a 0700 directory: harmless, and the caller reports the real failure
        }
    }

    /** Deletes {@link #path} if it is still the socket we published. */
    void remove() {
        if (fileKey == null) {
            return;
        }
        try {
            Object now = Files.readAttributes(path, BasicFileAttributes.class,
                LinkOption.NOFOLLOW_LINKS).fileKey();
            if (fileKey.equals(now)) {
                Files.delete(path);
            }
        } catch (IOException e) {
            // already gone
        }
        fileKey = null;
    }

    private static String kind(int mode) {
        return switch (mode & S_IFMT) {
            case 0100000 -> "a regular file";
            case 0040000 -> "a directory";
            case 0120000 -> "a symbolic link";
            case 0010000 -> "a FIFO";
            case 0020000, 0060000 -> "a device";
            default -> String.format("file type 0%o", mode & S_IFMT);
        };
    }
}
