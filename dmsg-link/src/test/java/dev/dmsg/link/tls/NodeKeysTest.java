package dev.dmsg.link.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Node keys on disk (docs/SECURITY.md §1): made once, kept owner-only, read back, refused when wrong. */
class NodeKeysTest {
    @TempDir
    Path tmp;

    @Test
    void madeOnFirstUseThenReadBackWithTheSameFingerprint() throws IOException {
        Path dir = tmp.resolve("alpha");
        NodeKeys made = NodeKeys.loadOrCreate(dir, "alpha");
        assertThat(made.label()).isEqualTo("alpha");
        assertThat(made.fingerprint()).matches("SHA256:[A-Za-z0-9+/]{43}");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve(NodeKeys.KEY_FILE))))
            .isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
        NodeKeys again = NodeKeys.loadOrCreate(dir, "renamed");
        assertThat(again.fingerprint()).isEqualTo(made.fingerprint());
        assertThat(again.label()).isEqualTo("alpha"); // the label the keys were made with
        assertThat(Fingerprints.of(NodeKeys.readPublicKey(dir.resolve(NodeKeys.CERT_FILE)))).isEqualTo(made.fingerprint());
        assertThat(Fingerprints.bytes(made.fingerprint())).isEqualTo(Fingerprints.sha256(made.publicKey()));
    }

    @Test
    void aKeyOthersCanReadIsRefusedWithTheFix() throws IOException {
        Path dir = tmp.resolve("beta");
        NodeKeys.loadOrCreate(dir, "beta");
        Files.setPosixFilePermissions(dir.resolve(NodeKeys.KEY_FILE), PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> NodeKeys.load(dir)).isInstanceOf(IOException.class)
            .hasMessageContaining("is readable by others (mode rw-r--r--)").hasMessageContaining("chmod 600");
    }

    /** Issue 13: the directory of the key (and the trust store) must not be writable by others (StrictModes). */
    @Test
    void aKeyDirectoryOthersCanWriteOrMoveIsRefusedBeforeAnythingIsReadOrMade() throws IOException {
        Path dir = tmp.resolve("gamma");
        NodeKeys.loadOrCreate(dir, "gamma");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThatThrownBy(() -> NodeKeys.load(dir)).isInstanceOf(IOException.class)
            .hasMessage("key directory " + dir + " is writable by group and others (mode rwxrwxrwx), who could replace"
                + " the node's key (node.key) and the trust store in it; make it writable by its owner only: chmod go-w "
                + dir);
        assertThatThrownBy(() -> NodeKeys.loadOrCreate(dir, "gamma")).hasMessageStartingWith("key directory " + dir);

        // not made yet, below a directory others may write: refused before a key is made
        Path parent = tmp.resolve("shared");
        Files.createDirectory(parent);
        Files.setPosixFilePermissions(parent, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path fresh = parent.resolve("delta");
        assertThatThrownBy(() -> NodeKeys.loadOrCreate(fresh, "delta"))
            .hasMessageStartingWith(parent + " (above key directory " + fresh + ") is writable by group and others"
                + " (mode rwxrwxrwx, not sticky)");
        assertThatThrownBy(() -> NodeKeys.generate("delta").write(fresh, false))
            .hasMessageStartingWith(parent + " (above key directory " + fresh + ")");
        assertThat(fresh.resolve(NodeKeys.KEY_FILE)).doesNotExist();
    }

    /** Through a symbolic link the real directory counts, and so does the one the link is in (it can be re-pointed). */
    @Test
    void aKeyDirectoryReachedThroughALinkIsCheckedOnBothPaths() throws IOException {
        Path real = tmp.resolve("real");
        NodeKeys.loadOrCreate(real, "zeta");
        Path links = tmp.resolve("links");
        Files.createDirectory(links);
        Path link = Files.createSymbolicLink(links.resolve("zeta"), real);
        assertThat(NodeKeys.load(link).label()).isEqualTo("zeta");
        Files.setPosixFilePermissions(links, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThatThrownBy(() -> NodeKeys.load(link))
            .hasMessageStartingWith(links + " (above key directory " + link + ") is writable by group and others");
        Files.setPosixFilePermissions(links, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(real, PosixFilePermissions.fromString("rwxrwx---"));
        assertThatThrownBy(() -> NodeKeys.load(link))
            .hasMessageStartingWith("key directory " + link + " is writable by its group (mode rwxrwx---)");
    }

    @Test
    void aKeyAnotherUserOwnsIsRefused() throws IOException {
        Path dir = tmp.resolve("epsilon");
        NodeKeys.loadOrCreate(dir, "epsilon");
        Path key = dir.resolve(NodeKeys.KEY_FILE);
        String owner = TrustStoreTest.chownToAnotherUser(key);
        assertThatThrownBy(() -> NodeKeys.load(dir))
            .hasMessage(key + TrustStoreTest.ownedByAnother(owner) + "read or replace the node's private key; chown root "
                + key);
    }

    @Test
    void aMissingHalfAMismatchedPairAndGarbageAreEachNamed() throws IOException {
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        NodeKeys.loadOrCreate(a, "a");
        NodeKeys.loadOrCreate(b, "b");
        Files.delete(a.resolve(NodeKeys.CERT_FILE));
        assertThatThrownBy(() -> NodeKeys.loadOrCreate(a, "a")).hasMessageContaining("node.crt is missing");
        Files.copy(b.resolve(NodeKeys.CERT_FILE), a.resolve(NodeKeys.CERT_FILE));
        assertThatThrownBy(() -> NodeKeys.load(a)).hasMessageContaining("does not belong to");
        Files.writeString(a.resolve(NodeKeys.CERT_FILE), "this is not PEM\n");
        assertThatThrownBy(() -> NodeKeys.load(a)).hasMessageContaining("node.crt");
        assertThatThrownBy(() -> NodeKeys.generate("x").write(b, false)).hasMessageContaining("not replaced");
    }

    @Test
    void rolesGrantsAndFingerprintFormsParse() {
        assertThat(Role.parse("Admin")).isEqualTo(Role.ADMIN);
        assertThatThrownBy(() -> Role.parse("root")).hasMessageContaining("admin, member or client");
        assertThat(Grants.format(Grants.parse("blk-rw,shell-ro"))).isEqualTo("shell-ro,blk-rw");
        assertThatThrownBy(() -> Grants.parse("blk-write")).hasMessageContaining("unknown grant 'blk-write'");
        assertThat(Fingerprints.isFingerprint("SHA256:abc")).isFalse();
        NodeKeys k = NodeKeys.generate("k");
        PeerIdentity p = new PeerIdentity("k", k.fingerprint(), Role.CLIENT, Grants.SHELL_RO);
        TrustPolicy t = TrustPolicy.of(List.of(p));
        assertThat(t.byFingerprint(k.fingerprint())).isEqualTo(p);
        assertThat(t.byName("k")).isEqualTo(p);
        assertThat(p.granted(Grants.SHELL_RO)).isTrue();
        assertThat(p.granted(Grants.BLK_RW)).isFalse();
        assertThatThrownBy(() -> TrustPolicy.of(List.of(p, p))).hasMessageContaining("trusted twice");
    }
}
