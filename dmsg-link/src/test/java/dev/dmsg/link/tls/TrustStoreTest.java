package dev.dmsg.link.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.dmsg.testkit.FakeClock;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.slf4j.LoggerFactory;

/** The trust store file (docs/SECURITY.md §2): format, refusals, atomic writes, changes seen by a running node. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TrustStoreTest {
    @TempDir
    Path tmp;

    private static final Random RANDOM = new Random(20240611);

    /** A fingerprint of no real key: the store only compares them. */
    static String fp() {
        byte[] b = new byte[32];
        synchronized (RANDOM) {
            RANDOM.nextBytes(b);
        }
        return Fingerprints.of(b);
    }

    static final String BETA = fp();
    static final String OPS = fp();
    static final String ROOT = fp();

    Path dir() {
        return tmp.resolve("alpha");
    }

    Path file() {
        return dir().resolve(TrustStore.FILE);
    }

    void writeFile(String text) throws IOException {
        Files.createDirectories(dir());
        Files.writeString(file(), text, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(file(), PosixFilePermissions.fromString("rw-------"));
    }

    static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void addedPeersAreFoundByNameAndKeyAndReadBackByAnotherStore() throws IOException {
        TrustStore t = TrustStore.open(dir());
        assertThat(t.list()).isEmpty();
        assertThat(t.add("beta", BETA, Role.MEMBER, 0)).isTrue();
        assertThat(t.add("ops-cli", OPS, Role.CLIENT, Grants.SHELL_RO | Grants.BLK_READ)).isTrue();
        assertThat(t.add("root", ROOT, Role.ADMIN, 0)).isTrue();

        PeerIdentity beta = new PeerIdentity("beta", BETA, Role.MEMBER, 0);
        PeerIdentity ops = new PeerIdentity("ops-cli", OPS, Role.CLIENT, Grants.SHELL_RO | Grants.BLK_READ);
        PeerIdentity root = new PeerIdentity("root", ROOT, Role.ADMIN, 0);
        assertThat(t.list()).containsExactly(beta, ops, root);
        assertThat(t.byName("ops-cli")).isEqualTo(ops);
        assertThat(t.byFingerprint(ROOT)).isEqualTo(root);
        assertThat(t.byName("gamma")).isNull();
        assertThat(t.byFingerprint(fp())).isNull();
        assertThat(t.byFingerprint(null)).isNull(); // as TrustPolicy.of: unknown, not an exception
        assertThat(t.byName(null)).isNull();

        TrustStore again = TrustStore.open(dir());
        assertThat(again.list()).containsExactly(beta, ops, root);
        assertThat(Files.readAllLines(file())).contains(
            "beta             " + BETA + "  member",
            "ops-cli          " + OPS + "  client  shell-ro,blk-read",
            "root             " + ROOT + "  admin");
        assertThat(Files.readAllLines(file()).get(0)).startsWith("# dmsg trust store");
    }

    @Test
    void addingTheSameEntryAgainIsANoOpThatDoesNotWrite() throws IOException {
        TrustStore t = TrustStore.open(dir());
        t.add("beta", BETA, Role.MEMBER, 0);
        Object inode = Files.readAttributes(file(), BasicFileAttributes.class).fileKey();
        assertThat(t.add("beta", BETA, Role.MEMBER, 0)).isFalse();
        assertThat(Files.readAttributes(file(), BasicFileAttributes.class).fileKey())
            .isEqualTo(inode);
        assertThat(t.list()).hasSize(1);
    }

    @Test
    void commentsBlankLinesAndOtherLinesAreKeptAsTheyWereOnWrites() throws IOException {
        String handMade = "# our peers\n"
            + "\n"
            + "beta\t" + BETA + "\tmember   # the storage node\n"
            + "   # indented comment\n"
            + "root " + ROOT + " ADMIN\n";
        writeFile(handMade);
        TrustStore t = TrustStore.open(dir());
        assertThat(t.list()).extracting(PeerIdentity::name).containsExactly("beta", "root");
        assertThat(t.byName("root").role()).isEqualTo(Role.ADMIN); // roles in any case

        t.add("ops", OPS, Role.CLIENT, Grants.BLK_RW);
        assertThat(Files.readString(file())).isEqualTo(handMade + "ops              " + OPS + "  client  blk-rw\n");
        assertThat(t.remove("beta")).isTrue();
        assertThat(Files.readString(file())).isEqualTo("# our peers\n\n   # indented comment\nroot " + ROOT + " ADMIN\n"
            + "ops              " + OPS + "  client  blk-rw\n");
        assertThat(t.remove("beta")).isFalse();
        assertThat(t.list()).extracting(PeerIdentity::name).containsExactly("root", "ops");
    }

    @Test
    void aMissingFileIsAnEmptyStoreAndIsMadeOwnerOnlyByTheFirstWrite() throws IOException {
        TrustStore t = TrustStore.open(dir());
        assertThat(t.list()).isEmpty();
        assertThat(t.remove("beta")).isFalse();
        assertThat(dir()).doesNotExist(); // neither open nor a remove of nothing makes anything

        t.add("beta", BETA, Role.MEMBER, 0);
        assertThat(mode(dir())).isEqualTo("rwx------");
        assertThat(mode(file())).isEqualTo("rw-------");
        try (Stream<Path> s = Files.list(dir())) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("trusted", "trusted.lock");
        }
    }

    @Test
    void writesReplaceTheFileAtomicallyWithModeSixHundred() throws IOException {
        writeFile("beta " + BETA + " member\n");
        Files.setPosixFilePermissions(file(), PosixFilePermissions.fromString("rw-r--r--")); // readable: allowed
        Object inode = Files.readAttributes(file(), BasicFileAttributes.class).fileKey();
        TrustStore t = TrustStore.open(dir());
        t.add("root", ROOT, Role.ADMIN, 0);
        assertThat(mode(file())).isEqualTo("rw-------");
        assertThat(Files.readAttributes(file(), BasicFileAttributes.class).fileKey())
            .isNotEqualTo(inode); // a new file renamed over the old one, not the old one rewritten
        try (Stream<Path> s = Files.list(dir())) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.endsWith(".tmp"));
        }
    }

    static Stream<Arguments> malformedLines() {
        String fp = "SHA256:" + "A".repeat(43);
        return Stream.of(
            Arguments.of("beta " + fp, "too few columns: 2 (NAME FINGERPRINT ROLE [GRANTS])"),
            Arguments.of("beta " + fp + " client shell-ro extra", "too many columns: 5 (NAME FINGERPRINT ROLE [GRANTS])"),
            Arguments.of("be/ta " + fp + " member", "bad name 'be/ta' (1..63 characters of A-Z a-z 0-9 . _ : -)"),
            Arguments.of("x".repeat(64) + " " + fp + " member", "bad name '" + "x".repeat(64) + "'"),
            Arguments.of("beta SHA256:abc member", "bad fingerprint 'SHA256:abc' (SHA256: and 43 base64 characters"),
            Arguments.of("beta " + fp.replace("SHA256:", "sha256:") + " member", "bad fingerprint 'sha256:"),
            Arguments.of("beta " + fp + " root", "unknown role 'root' (roles: admin, member, client)"),
            Arguments.of("beta " + fp + " none", "unknown role 'none'"),
            Arguments.of("beta " + fp + " client shell-rw", "unknown grant 'shell-rw' (grants: shell-ro, blk-read, blk-rw, kv-read, kv-write, lock, lock-read)"),
            Arguments.of("beta " + fp + " member blk-read", "grants blk-read are only for role client, not member"));
    }

    @ParameterizedTest
    @MethodSource("malformedLines")
    void aMalformedLineIsRefusedWithFileLineAndReason(String line, String reason) throws IOException {
        writeFile("# header\n" + line + "\n");
        assertThatThrownBy(() -> TrustStore.open(dir())).isInstanceOf(IOException.class)
            .hasMessageStartingWith(file() + ":2: " + reason);
    }

    @Test
    void aNameOrAKeyTwiceInTheFileIsRefusedNamingBothLines() throws IOException {
        writeFile("beta " + BETA + " member\n\nbeta " + ROOT + " admin\n");
        assertThatThrownBy(() -> TrustStore.open(dir()))
            .hasMessage(file() + ":3: duplicate name 'beta' (already on line 1; a name has one key)");
        writeFile("beta " + BETA + " member\ngamma " + BETA + " member\n");
        assertThatThrownBy(() -> TrustStore.open(dir()))
            .hasMessage(file() + ":2: duplicate key " + BETA + ": 'gamma' here, 'beta' on line 1 (a key has one name)");
    }

    @Test
    void aFileOthersCanWriteOrThatIsNotTextIsRefused() throws IOException {
        writeFile("beta " + BETA + " member\n");
        Files.setPosixFilePermissions(file(), PosixFilePermissions.fromString("rw-rw-r--"));
        assertThatThrownBy(() -> TrustStore.open(dir()))
            .hasMessage(file() + " is writable by its group (mode rw-rw-r--), who could trust themselves as admin; "
                + "make it owner-only: chmod 600 " + file());
        Files.setPosixFilePermissions(file(), PosixFilePermissions.fromString("rw-r--rw-"));
        assertThatThrownBy(() -> TrustStore.open(dir())).hasMessageStartingWith(file() + " is writable by others"
            + " (mode rw-r--rw-)");
        Files.setPosixFilePermissions(file(), PosixFilePermissions.fromString("rw-------"));
        Files.write(file(), new byte[] {'b', (byte) 0xff, '\n'});
        assertThatThrownBy(() -> TrustStore.open(dir())).hasMessage(file() + ": not a text file (invalid UTF-8)");
    }

    /** uid 65534 ("nobody" on most systems): another user, which only root can make a file's owner. */
    static final int OTHER_UID = 65534;

    /** Gives {@code p} to {@link #OTHER_UID}, as if another user had made it; skipped unless the test runs as root. */
    static String chownToAnotherUser(Path p) throws IOException {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "chown needs root");
        Files.setAttribute(p, "unix:uid", OTHER_UID);
        return Files.getOwner(p).getName();
    }

    /** "is owned by nobody (uid 65534), not by this node's user (root, uid 0) or root; nobody could " */
    static String ownedByAnother(String owner) {
        return " is owned by " + owner + " (uid " + OTHER_UID + "), not by this node's user (root, uid 0) or root; "
            + owner + " could ";
    }

    /** Issue 13: a trust store owned by another user was accepted without a word. */
    @Test
    void aFileAnotherUserOwnsIsRefusedNamingItsOwnerAndTheFix() throws IOException {
        writeFile("beta " + BETA + " member\n");
        String owner = chownToAnotherUser(file()); // mode 0600: only its owner may write it, and that is not us
        assertThatThrownBy(() -> TrustStore.open(dir())).isInstanceOf(IOException.class)
            .hasMessage(file() + ownedByAnother(owner) + "trust themselves as admin; chown root " + file());
        // "dmsg trust add" refuses it too, and leaves it as it was
        Files.setAttribute(file(), "unix:uid", 0);
        TrustStore t = TrustStore.open(dir());
        Files.setAttribute(file(), "unix:uid", OTHER_UID);
        assertThatThrownBy(() -> t.add("root", ROOT, Role.ADMIN, 0)).hasMessageContaining(ownedByAnother(owner));
        assertThat(Files.readString(file())).doesNotContain("root");
    }

    /** Issue 13: a data directory at 0777 was accepted without a word. */
    @Test
    void aDirectoryOthersCanWriteOrMoveIsRefusedNamingItAndTheFix() throws IOException {
        writeFile("beta " + BETA + " member\n");
        Files.setPosixFilePermissions(dir(), PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThatThrownBy(() -> TrustStore.open(dir()))
            .hasMessage("trust store directory " + dir() + " is writable by group and others (mode rwxrwxrwx), who could"
                + " replace the trust store (trusted) and the node's key in it; make it writable by its owner only:"
                + " chmod go-w " + dir());
        Files.setPosixFilePermissions(dir(), PosixFilePermissions.fromString("rwxrwxr-x"));
        assertThatThrownBy(() -> TrustStore.open(dir())).hasMessageContaining("is writable by its group (mode rwxrwxr-x)");
        Files.setPosixFilePermissions(dir(), PosixFilePermissions.fromString("rwxr-xr-x"));
        assertThat(TrustStore.open(dir()).byName("beta")).isNotNull();

        // the directory above: writable by others, it lets them move ours aside and put theirs in its place
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxrwxrwx"));
        try {
            assertThatThrownBy(() -> TrustStore.open(dir()))
                .hasMessage(tmp + " (above trust store directory " + dir() + ") is writable by group and others (mode"
                    + " rwxrwxrwx, not sticky), who could move trust store directory " + dir() + " aside and put their"
                    + " own in its place; chmod go-w " + tmp + " (or chmod +t " + tmp + ")");
            Files.setAttribute(tmp, "unix:mode", 01777); // sticky, as /tmp: others cannot move what is ours
            assertThat(TrustStore.open(dir()).byName("beta")).isNotNull();
        } finally {
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx------"));
        }
        // a directory another user owns: they may chmod it at will
        String owner = chownToAnotherUser(dir());
        assertThatThrownBy(() -> TrustStore.open(dir())).hasMessage("trust store directory " + dir()
            + ownedByAnother(owner) + "replace the trust store (trusted) and the node's key in it; chown root " + dir());
    }

    /**
     * docs/SECURITY.md §2: a trust store that changes owner under a running node is looked at like
     * an edit (a chown changes no mtime) and refused like a malformed one: the node keeps the
     * peers it had, warns once per version, and reads nothing from the file until it is its own
     * again — so another user's edit is never trusted.
     */
    @Test
    void aFileThatChangesOwnerUnderARunningNodeKeepsThePeersItHadAndWarnsOnce() throws IOException {
        FakeClock clock = new FakeClock();
        TrustStore node = TrustStore.open(dir(), clock, Duration.ofSeconds(1));
        node.add("beta", BETA, Role.MEMBER, 0);
        Logger logger = (Logger) LoggerFactory.getLogger(TrustStore.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        logger.addAppender(logged);
        try {
            String owner = chownToAnotherUser(file());
            for (int i = 0; i < 5; i++) {
                clock.advanceMillis(1000);
                assertThat(node.byName("beta")).isEqualTo(new PeerIdentity("beta", BETA, Role.MEMBER, 0));
            }
            assertThat(logged.list).filteredOn(e -> e.getLevel() == Level.WARN).singleElement()
                .extracting(ILoggingEvent::getFormattedMessage).asString()
                .isEqualTo("trust store " + file() + " changed but cannot be used: " + file() + ownedByAnother(owner)
                    + "trust themselves as admin; chown root " + file() + "; still trusting the 1 peer(s) read before");

            // its new owner makes itself admin: not read, one more warning for the new version
            Files.writeString(file(), "beta " + BETA + " member\nmallory " + ROOT + " admin\n", StandardCharsets.UTF_8);
            clock.advanceMillis(1000);
            assertThat(node.byFingerprint(ROOT)).isNull();
            assertThat(logged.list).filteredOn(e -> e.getLevel() == Level.WARN).hasSize(2);

            // the operator takes it back: read again
            Files.writeString(file(), "beta " + BETA + " member\nops " + OPS + " client shell-ro\n", StandardCharsets.UTF_8);
            Files.setAttribute(file(), "unix:uid", 0);
            clock.advanceMillis(1000);
            assertThat(node.byName("ops")).isNotNull();
            assertThat(node.byFingerprint(ROOT)).isNull();
        } finally {
            logger.detachAppender(logged);
        }
    }

    @Test
    void addRefusesANameWithAnotherKeyAKeyUnderAnotherNameAndAChangedRoleNamingBoth() throws IOException {
        TrustStore t = TrustStore.open(dir());
        t.add("beta", BETA, Role.MEMBER, 0);
        assertThatThrownBy(() -> t.add("beta", ROOT, Role.MEMBER, 0)).isInstanceOf(IllegalStateException.class)
            .hasMessage("'beta' is already trusted with " + BETA + ", not " + ROOT + " (line 3 of " + file()
                + "); if its key changed, remove the old entry first: dmsg trust remove beta");
        assertThatThrownBy(() -> t.add("gamma", BETA, Role.MEMBER, 0)).isInstanceOf(IllegalStateException.class)
            .hasMessage("key " + BETA + " is already trusted as 'beta' (line 3 of " + file() + "), so not as 'gamma'; "
                + "a key has one name: dmsg trust remove beta first to rename it");
        assertThatThrownBy(() -> t.add("beta", BETA, Role.CLIENT, Grants.SHELL_RO)).isInstanceOf(IllegalStateException.class)
            .hasMessageStartingWith("'beta' is already trusted with this key as member, not client shell-ro (line 3");
        assertThat(t.list()).containsExactly(new PeerIdentity("beta", BETA, Role.MEMBER, 0));

        t.remove("beta"); // replacing takes an explicit remove
        assertThat(t.add("beta", ROOT, Role.ADMIN, 0)).isTrue();
        assertThat(t.byName("beta").fingerprint()).isEqualTo(ROOT);
        assertThat(t.byFingerprint(BETA)).isNull();
    }

    @Test
    void addRefusesBadArgumentsBeforeTouchingTheFile() {
        TrustStore t = assertOpen();
        assertThatThrownBy(() -> t.add("a b", BETA, Role.MEMBER, 0)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageStartingWith("bad name 'a b'");
        assertThatThrownBy(() -> t.add("beta", "SHA256:x", Role.MEMBER, 0)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageStartingWith("bad fingerprint 'SHA256:x'");
        assertThatThrownBy(() -> t.add("beta", BETA, Role.ADMIN, Grants.SHELL_RO)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageStartingWith("grants shell-ro are only for role client, not admin");
        assertThatThrownBy(() -> t.add("beta", BETA, Role.NONE, 0)).isInstanceOf(IllegalArgumentException.class)
            .hasMessageStartingWith("role none is not a trust level");
        assertThat(dir()).doesNotExist();
    }

    private TrustStore assertOpen() {
        try {
            return TrustStore.open(dir());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aChangeByAnotherStoreIsSeenAfterTheCheckIntervalOrAtOnceOnReload() throws IOException {
        FakeClock clock = new FakeClock();
        TrustStore node = TrustStore.open(dir(), clock, Duration.ofSeconds(1));
        TrustStore cli = TrustStore.open(dir()); // "dmsg trust add" while the node runs
        cli.add("beta", BETA, Role.MEMBER, 0);

        assertThat(node.byName("beta")).isNull(); // not looked at the file yet
        clock.advanceMillis(999);
        assertThat(node.byFingerprint(BETA)).isNull();
        clock.advanceMillis(1);
        assertThat(node.byFingerprint(BETA)).isEqualTo(new PeerIdentity("beta", BETA, Role.MEMBER, 0));

        cli.remove("beta");
        cli.add("beta2", OPS, Role.CLIENT, Grants.SHELL_RO);
        assertThat(node.byName("beta")).isNotNull(); // within the interval
        node.reload();
        assertThat(node.byName("beta")).isNull();
        assertThat(node.list()).extracting(PeerIdentity::name).containsExactly("beta2");

        Files.delete(file()); // no file: nobody trusted, as at open
        clock.advanceMillis(1000);
        assertThat(node.list()).isEmpty();
    }

    @Test
    void aBrokenFileKeepsTheLastGoodSnapshotWithOneWarning() throws IOException {
        FakeClock clock = new FakeClock();
        TrustStore node = TrustStore.open(dir(), clock, Duration.ofSeconds(1));
        node.add("beta", BETA, Role.MEMBER, 0);
        Logger logger = (Logger) LoggerFactory.getLogger(TrustStore.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        logger.addAppender(logged);
        try {
            writeFile("beta " + BETA + " membr\n"); // a hand edit gone wrong

            assertThatThrownBy(node::reload).isInstanceOf(IOException.class)
                .hasMessage(file() + ":1: unknown role 'membr' (roles: admin, member, client)");
            assertThat(node.byName("beta")).isEqualTo(new PeerIdentity("beta", BETA, Role.MEMBER, 0));
            for (int i = 0; i < 5; i++) { // lookups keep the old snapshot and warn once, not every second
                clock.advanceMillis(1000);
                assertThat(node.byFingerprint(BETA)).isNotNull();
            }
            assertThat(logged.list).filteredOn(e -> e.getLevel() == Level.WARN).hasSize(1) // at reload(); the checks know this version
                .allSatisfy(e -> assertThat(e.getFormattedMessage()).contains(":1: unknown role 'membr'",
                    "still trusting the 1 peer(s) read before"));

            writeFile("beta " + BETA + " admin\n"); // fixed
            clock.advanceMillis(1000);
            assertThat(node.byName("beta").role()).isEqualTo(Role.ADMIN);
            assertThat(logged.list).filteredOn(e -> e.getLevel() == Level.INFO)
                .anySatisfy(e -> assertThat(e.getFormattedMessage()).contains("changed: 1 peer(s) trusted (was 1)"));

            writeFile("beta " + BETA + " admin\nbeta " + OPS + " member\n"); // broken again: writes refuse it too
            assertThatThrownBy(() -> node.add("gamma", ROOT, Role.MEMBER, 0))
                .hasMessage(file() + ":2: duplicate name 'beta' (already on line 1; a name has one key)");
            assertThat(Files.readString(file())).doesNotContain("gamma");
        } finally {
            logger.detachAppender(logged);
        }
    }

    /** A file that cannot be looked at fails every check (once a second): one warning a minute, not one a second. */
    @Test
    void aFileThatCannotBeCheckedWarnsOnceAMinute() throws IOException {
        FakeClock clock = new FakeClock();
        TrustStore node = TrustStore.open(dir(), clock, Duration.ofSeconds(1));
        node.add("beta", BETA, Role.MEMBER, 0);
        Logger logger = (Logger) LoggerFactory.getLogger(TrustStore.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        logger.addAppender(logged);
        try {
            Files.delete(file());
            Files.createSymbolicLink(file(), file().getFileName()); // a loop: every stat fails (ELOOP)
            for (int i = 0; i < 61; i++) { // a minute after the first line, the second
                clock.advanceMillis(1000);
                assertThat(node.byName("beta")).isNotNull();
            }
            assertThat(logged.list).hasSize(2).allSatisfy(e -> assertThat(e.getFormattedMessage())
                .startsWith("trust store " + file() + ": cannot check for changes (").contains("still trusting the 1 peer(s)"));
            assertThat(logged.list.get(1).getFormattedMessage()).endsWith(" (+59 similar suppressed)");
        } finally {
            logger.detachAppender(logged);
        }
    }

    @Test
    void lookupsDuringWritesNeverSeeAHalfWrittenFile() throws Exception {
        TrustStore writer = TrustStore.open(dir());
        writer.add("beta", BETA, Role.MEMBER, 0);
        writer.add("root", ROOT, Role.ADMIN, 0);
        TrustStore reader = TrustStore.open(dir(), System::nanoTime, Duration.ZERO); // stats at every lookup
        List<String> churn = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            churn.add(fp());
        }
        AtomicBoolean done = new AtomicBoolean();
        CountDownLatch started = new CountDownLatch(3);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Integer>> readers = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                TrustStore t = r == 0 ? writer : reader;
                boolean reload = r == 2;
                readers.add(pool.submit(() -> {
                    started.countDown();
                    int n = 0;
                    for (; n < 1_000_000 && !done.get(); n++) {
                        if (reload) {
                            t.reload(); // throws if it ever read a partial file
                        }
                        List<PeerIdentity> all = t.list();
                        assertThat(all.subList(0, 2)).extracting(PeerIdentity::name).containsExactly("beta", "root");
                        assertThat(all).extracting(PeerIdentity::name).doesNotHaveDuplicates();
                        assertThat(t.byFingerprint(BETA)).isNotNull();
                        assertThat(t.byName("root")).isNotNull();
                    }
                    return n;
                }));
            }
            started.await();
            Future<?> writes = pool.submit(() -> {
                for (int i = 0; i < churn.size(); i++) {
                    writer.add("churn-" + i, churn.get(i), Role.CLIENT, Grants.SHELL_RO);
                    if (i % 2 == 0) {
                        writer.remove("churn-" + i);
                    }
                }
                return null;
            });
            try {
                writes.get(30, TimeUnit.SECONDS);
            } finally {
                done.set(true);
            }
            for (Future<Integer> f : readers) {
                assertThat(f.get(30, TimeUnit.SECONDS)).isPositive();
            }
        } finally {
            pool.shutdownNow();
        }
        reader.reload();
        assertThat(reader.list()).hasSize(2 + churn.size() / 2);
    }

    @Test
    void writersInTwoStoresLoseNoneOfEachOthersChanges() throws Exception {
        TrustStore a = TrustStore.open(dir());
        TrustStore b = TrustStore.open(dir());
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (TrustStore t : List.of(a, b)) {
                String prefix = t == a ? "a-" : "b-";
                fs.add(pool.submit(() -> {
                    for (int i = 0; i < 15; i++) {
                        t.add(prefix + i, fp(), Role.MEMBER, 0);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get(30, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(TrustStore.open(dir()).list()).hasSize(30);
    }
}
