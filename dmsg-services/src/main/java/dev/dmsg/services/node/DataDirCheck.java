package dev.dmsg.services.node;

import dev.dmsg.link.tls.StrictModes;
import java.io.IOException;
import java.nio.file.Path;

/**
 * A node's data directory is checked before the node reads anything from it (docs/SECURITY.md
 * §2): it holds the trust store (whoever can replace it makes themselves admin), the node's key
 * and its VOLCONF table (which peers it dials), so only the node's user or root may write it, or
 * any directory above it ({@link StrictModes}, as OpenSSH's StrictModes). A node started with
 * its data directory at 0777 refuses to start and says how to fix it. The key and trust files
 * themselves are checked where they are read ({@code NodeKeys}, {@code TrustStore}), also when
 * they live in another directory (a guest node's {@code Security.keyDir}).
 */
final class DataDirCheck {
    private DataDirCheck() {}

    /** @throws IOException naming the directory, its owner or mode, and the fix */
    static void check(Path dataDir) throws IOException {
        StrictModes.checkDirectory(dataDir, "data directory", "the node's trust store, key and VOLCONF table");
    }
}
