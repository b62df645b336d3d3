package dev.dmsg.bench.driver;

import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.link.tls.TlsConfig;
import dev.dmsg.link.tls.TrustPolicy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;

/**
 * TLS for {@code dmsg bench all --tls JDK|OPENSSL}: a key pair for the server and one for the
 * client, each pinning the other's (docs/SECURITY.md), in a directory both JVMs read.
 */
final class BenchTls {
    private BenchTls() {}

    /** TLS off, or which provider runs it. */
    enum Mode { OFF, JDK, OPENSSL }

    static final String SERVER = "bench-server";
    static final String CLIENT = "bench-client";

    /** Makes both key pairs in a new temporary directory. */
    static Path prepare() throws IOException {
        Path dir = Files.createTempDirectory("dmsg-bench-tls");
        NodeKeys.generate(SERVER).write(dir.resolve(SERVER), false);
        NodeKeys.generate(CLIENT).write(dir.resolve(CLIENT), false);
        return dir;
    }

    /** {@code self}'s TLS: its keys, trusting the other side's key as a member. */
    static TlsConfig config(Path dir, String self, Mode mode) throws IOException {
        String other = self.equals(SERVER) ? CLIENT : SERVER;
        NodeKeys mine = NodeKeys.load(dir.resolve(self));
        NodeKeys theirs = NodeKeys.load(dir.resolve(other));
        TrustPolicy trust = TrustPolicy.of(List.of(new PeerIdentity(other, theirs.fingerprint(), Role.MEMBER, 0)));
        return TlsConfig.of(mine, trust).withProvider(mode == Mode.OPENSSL ? TlsConfig.Provider.OPENSSL
            : TlsConfig.Provider.JDK);
    }

    static void delete(Path dir) {
        try (var files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            // a temporary directory: left for the OS
        }
    }
}
