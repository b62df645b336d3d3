package dev.dmsg.link.tls;

import dev.dmsg.link.LogLimiter;
import dev.dmsg.link.tls.TrustFile.Line;
import dev.dmsg.link.tls.TrustFile.Stamp;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trust store {@code DATA/trusted} (docs/SECURITY.md §2): the peers we trust, pinned by key.
 *
 * <p>The file is text, one peer per line, columns separated by spaces or tabs:
 * <pre>
 * # NAME   FINGERPRINT                                         ROLE    [GRANTS]
 * beta     SHA256:3q7m6Jw9...                                  member
 * ops-cli  SHA256:Yx0aTL1c...                                  client  shell-ro,blk-read
 * </pre>
 * {@code #} starts a comment that runs to the end of the line; blank lines are allowed. NAME is
 * 1..63 characters of {@code [A-Za-z0-9._:-]} (a colon for nodes named by their HOST:PORT); FINGERPRINT is {@link Fingerprints}' form; ROLE is
 * {@code admin}, {@code member} or {@code client}; GRANTS ({@link Grants}, {@code -} for none)
 * only for {@code client}. A name maps to one key and a key to one name. Writes keep every other
 * line, comments included, as it was: {@link #add} appends a line, {@link #remove} drops one.
 *
 * <p>Concurrency: lookups ({@link #byFingerprint}, {@link #byName}, {@link #list}) run on any
 * thread — TLS handshakes on event loops — without locking: they read an immutable
 * {@link Snapshot} through a volatile field. At most once per check interval (1 s by default) one
 * lookup also stats the file, and re-reads it if its modification time, size or file key (inode)
 * changed: {@code dmsg trust add} in another process is seen by a running node within about a
 * second. The stat is a few microseconds; a re-read parses a small file. Writers ({@link #add},
 * {@link #remove}, {@link #reload}) are serialised by {@link #mutate} in this store, by
 * {@link #JVM_WRITERS} across stores of one JVM, and by an exclusive lock on
 * {@code DATA/trusted.lock} across processes; each re-reads the file under those locks, so no
 * process's change is lost, then writes a temporary file (mode 0600), forces it to disk and
 * renames it over {@code trusted}: a reader sees the old file or the new one, never half of one.
 *
 * <p>A malformed file is an {@link IOException} naming the file, the line and what is wrong, at
 * {@link #open} and on {@link #reload}. A file that turns malformed under a running node (a
 * hand edit gone wrong) keeps the last good snapshot, with a warning logged once per change of
 * the file: a typo must not drop every link. A missing file is an empty store (the node trusts
 * nobody); it is created by the first write. A file owned by anyone but this node's user or
 * root, one group or others may write, and one in a directory others may write or move, is
 * refused like a malformed one ({@link StrictModes}): whoever can change it can make themselves
 * admin. The owner and permissions are part of what a lookup compares, so a chown or chmod under
 * a running node is looked at within the check interval like an edit: a file that turned unsafe
 * keeps the last good snapshot, with one warning, as a malformed one does.
 *
 * <p>Who does what: this class holds the snapshot, answers lookups and serialises writers;
 * {@link TrustFile} reads, parses and formats the file; {@link TrustRules} says what an entry
 * may be.
 */
public final class TrustStore implements TrustPolicy {
    private static final Logger log = LoggerFactory.getLogger(TrustStore.class);

    public static final String FILE = "trusted";
    static final String LOCK_FILE = "trusted.lock";
    public static final Duration DEFAULT_CHECK_INTERVAL = Duration.ofSeconds(1);
    public static final int MAX_NAME_CHARS = 63;

    /** Writers in this JVM: {@link FileLock} is per process and throws if two channels of one JVM overlap. */
    private static final Object JVM_WRITERS = new Object();

    private final Path dir;
    private final Path file;
    private final LongSupplier nanoClock;
    private final long checkIntervalNanos;
    private final ReentrantLock mutate = new ReentrantLock();
    /** When a lookup next stats the file (clock nanos); claimed by compare-and-set so one thread does it. */
    private final AtomicLong nextCheckNanos;
    private volatile Snapshot snapshot;
    /** The stamp of the last file we could not use; guarded by {@link #mutate}. Warn once per bad version. */
    private Stamp lastBad;
    /**
     * A file that cannot even be looked at fails every check (once a second) the same way: one
     * line a minute, saying how many were left out (docs/SECURITY.md §7).
     */
    private final LogLimiter checkFailures;

    private TrustStore(Path dir, LongSupplier nanoClock, Duration checkInterval) {
        this.dir = dir;
        this.file = dir.resolve(FILE);
        this.nanoClock = nanoClock;
        this.checkIntervalNanos = checkInterval.toNanos();
        this.nextCheckNanos = new AtomicLong(nanoClock.getAsLong() + checkIntervalNanos);
        this.checkFailures = new LogLimiter(1, Duration.ofMinutes(1), nanoClock);
    }

    /** The trust store of the data directory {@code dataDir}; a missing file (or directory) is an empty store. */
    public static TrustStore open(Path dataDir) throws IOException {
        return open(dataDir, System::nanoTime, DEFAULT_CHECK_INTERVAL);
    }

    /**
     * As {@link #open(Path)}, with the clock lookups read ({@link System#nanoTime} units) and how
     * often they look at the file for changes ({@link Duration#ZERO}: at every lookup).
     *
     * @throws IOException if the file is malformed (file, line and reason in the message) or unreadable
     */
    public static TrustStore open(Path dataDir, LongSupplier nanoClock, Duration checkInterval) throws IOException {
        Objects.requireNonNull(dataDir, "dataDir");
        if (checkInterval.isNegative()) {
            throw new IllegalArgumentException("check interval must not be negative: " + checkInterval);
        }
        TrustStore t = new TrustStore(dataDir, nanoClock, checkInterval);
        t.snapshot = t.read(TrustFile.stamp(t.file));
        return t;
    }

    /** {@code DATA/trusted}. */
    public Path file() {
        return file;
    }

    /** Whether {@code name} may be a trusted name: 1..63 characters of {@code [A-Za-z0-9._:-]} (a colon for nodes named by their HOST:PORT). */
    public static boolean isName(String name) {
        return TrustRules.isName(name);
    }

    // ------------------------------------------------------------------------------------------
    // Lookups (any thread, lock-free)

    @Override
    public PeerIdentity byFingerprint(String fingerprint) {
        return fingerprint == null ? null : current().byFingerprint.get(fingerprint); // Map.copyOf refuses null keys
    }

    @Override
    public PeerIdentity byName(String name) {
        return name == null ? null : current().byName.get(name);
    }

    /** Every trusted peer, in the order of the file. */
    public List<PeerIdentity> list() {
        return current().peers;
    }

    /** The snapshot, after re-reading the file if the check interval has passed and the file changed. */
    private Snapshot current() {
        long now = nanoClock.getAsLong();
        long next = nextCheckNanos.get();
        if (now - next >= 0 && nextCheckNanos.compareAndSet(next, now + checkIntervalNanos)) {
            refreshIfChanged();
        }
        return snapshot;
    }

    /**
     * Re-reads the file if it changed since the snapshot was taken. Never throws: a file that
     * cannot be used keeps the snapshot and logs a warning (once per version of the file). If a
     * writer holds the lock the check is skipped; the writer installs a fresh snapshot itself.
     */
    private void refreshIfChanged() {
        Stamp now;
        try {
            now = TrustFile.stamp(file);
        } catch (IOException e) {
            String more = checkFailures.admit();
            if (more != null) {
                log.warn("trust store {}: cannot check for changes ({}); still trusting the {} peer(s) read before{}",
                    file, e.getMessage(), snapshot.peers.size(), more);
            }
            return;
        }
        if (now.equals(snapshot.stamp) || !mutate.tryLock()) {
            return;
        }
        try {
            if (now.equals(lastBad)) {
                return;
            }
            Snapshot old = snapshot;
            try {
                snapshot = read(now);
                log.info("trust store {} changed: {} peer(s) trusted (was {})", file, snapshot.peers.size(), old.peers.size());
            } catch (IOException e) {
                lastBad = now;
                log.warn("trust store {} changed but cannot be used: {}; still trusting the {} peer(s) read before",
                    file, e.getMessage(), old.peers.size());
            }
        } finally {
            mutate.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Changes

    /**
     * Re-reads the file now. On failure the snapshot stays as it was.
     *
     * @throws IOException naming the file, the line and what is wrong
     */
    public void reload() throws IOException {
        mutate.lock();
        try {
            Stamp s = TrustFile.stamp(file);
            try {
                snapshot = read(s);
                lastBad = null;
            } catch (IOException e) {
                lastBad = s;
                log.warn("trust store {}: reload failed: {}; still trusting the {} peer(s) read before",
                    file, e.getMessage(), snapshot.peers.size());
                throw e;
            }
        } finally {
            mutate.unlock();
        }
    }

    /**
     * Trusts the key {@code fingerprint} as {@code name}. Adding exactly the entry that is there
     * already does nothing; any other change to a trusted name or key takes a {@link #remove} first.
     *
     * @return true if the entry was added, false if it was there already
     * @throws IllegalArgumentException for a bad name or fingerprint, a role of none, unknown
     *     grant bits, or grants for a role other than client
     * @throws IllegalStateException if the name is trusted with another key, the key under
     *     another name, or the same pair with another role or grants; the message names both
     * @throws IOException if the file is malformed or cannot be written (it is then unchanged)
     */
    public boolean add(String name, String fingerprint, Role role, int grants) throws IOException {
        PeerIdentity p = new PeerIdentity(name, fingerprint, role, grants);
        String why = TrustRules.invalid(p);
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
        return write(lines -> {
            for (Line l : lines) {
                PeerIdentity q = l.peer();
                if (q == null) {
                    continue;
                }
                if (q.equals(p)) {
                    return false;
                }
                if (q.name().equals(name) && !q.fingerprint().equals(fingerprint)) {
                    throw new IllegalStateException("'" + name + "' is already trusted with " + q.fingerprint()
                        + ", not " + fingerprint + " (line " + l.number() + " of " + file + "); if its key changed, "
                        + "remove the old entry first: dmsg trust remove " + name);
                }
                if (q.fingerprint().equals(fingerprint) && !q.name().equals(name)) {
                    throw new IllegalStateException("key " + fingerprint + " is already trusted as '" + q.name()
                        + "' (line " + l.number() + " of " + file + "), so not as '" + name
                        + "'; a key has one name: dmsg trust remove " + q.name() + " first to rename it");
                }
                if (q.name().equals(name)) {
                    throw new IllegalStateException("'" + name + "' is already trusted with this key as "
                        + TrustRules.describe(q) + ", not " + TrustRules.describe(p) + " (line " + l.number() + " of " + file
                        + "); to change it: dmsg trust remove " + name + ", then add it again");
                }
            }
            lines.add(new Line(-1, TrustFile.format(p), p));
            return true;
        });
    }

    /**
     * Stops trusting {@code name}: drops its line, every other line kept.
     *
     * @return false if no peer has that name (the file is then not written)
     */
    public boolean remove(String name) throws IOException {
        Objects.requireNonNull(name, "name");
        if (!Files.exists(file)) {
            return false; // nothing to remove, and nothing made (no directory, no lock file)
        }
        return write(lines -> lines.removeIf(l -> l.peer() != null && l.peer().name().equals(name)));
    }

    private interface Edit {
        /** Changes {@code lines} in place; returns whether anything changed (false: nothing is written). */
        boolean apply(List<Line> lines) throws IOException;
    }

    /**
     * Runs {@code edit} on the file's current lines under every writer lock, and if it changed
     * them writes them back atomically and installs the new snapshot.
     */
    private boolean write(Edit edit) throws IOException {
        mutate.lock();
        try {
            synchronized (JVM_WRITERS) {
                if (!Files.isDirectory(dir)) {
                    Files.createDirectories(dir);
                    TrustFile.setPosix(dir, "rwx------");
                }
                try (FileChannel lockChannel = FileChannel.open(dir.resolve(LOCK_FILE), Set.of(StandardOpenOption.CREATE,
                        StandardOpenOption.WRITE), TrustFile.ownerOnly(dir));
                     FileLock ignored = lockChannel.lock()) {
                    Stamp before = TrustFile.stamp(file);
                    List<Line> lines = TrustFile.parse(TrustFile.readText(file), file);
                    if (!edit.apply(lines)) {
                        snapshot = snapshot(lines, before);
                        lastBad = null;
                        return false;
                    }
                    StringBuilder text = new StringBuilder(before == Stamp.ABSENT ? TrustFile.HEADER : "");
                    for (Line l : lines) {
                        text.append(l.text()).append('\n');
                    }
                    replace(text.toString());
                    snapshot = snapshot(TrustFile.parse(text.toString(), file), TrustFile.stamp(file));
                    lastBad = null;
                    return true;
                }
            }
        } finally {
            mutate.unlock();
        }
    }

    /** Writes {@code text} to a new owner-only file, forces it to disk, renames it over {@link #file}. */
    private void replace(String text) throws IOException {
        CaFiles.replace(file, text.getBytes(StandardCharsets.UTF_8), "rw-------");
    }

    // ------------------------------------------------------------------------------------------
    // Snapshots

    /** An immutable view of the file as read at {@link #stamp}. */
    private record Snapshot(List<PeerIdentity> peers, Map<String, PeerIdentity> byName,
                            Map<String, PeerIdentity> byFingerprint, Stamp stamp) {}

    /**
     * Reads and parses the file, which had {@code stamp} just before: a change racing the read
     * leaves the snapshot with the older stamp, so the next check reads the file again.
     */
    private Snapshot read(Stamp stamp) throws IOException {
        return snapshot(TrustFile.parse(TrustFile.readText(file), file), stamp);
    }

    private static Snapshot snapshot(List<Line> lines, Stamp stamp) {
        List<PeerIdentity> peers = new ArrayList<>();
        Map<String, PeerIdentity> byName = new HashMap<>();
        Map<String, PeerIdentity> byFp = new HashMap<>();
        for (Line l : lines) {
            if (l.peer() != null) {
                peers.add(l.peer());
                byName.put(l.peer().name(), l.peer());
                byFp.put(l.peer().fingerprint(), l.peer());
            }
        }
        return new Snapshot(List.copyOf(peers), Map.copyOf(byName), Map.copyOf(byFp), stamp);
    }

    @Override
    public String toString() {
        return "TrustStore(" + file + ", " + snapshot.peers.size() + " peers)";
    }
}
