package dev.dmsg.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.wire.Dmsg;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The lock checker (docs/CAC.md §9): what {@link LockWorker}s recorded and the faults the test
 * injected, checked against the rules of §9. Pure: no clock, no I/O but {@link #load}.
 * {@link #violations} lists every broken rule with the events that break it.
 */
final class LockHistory {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Rule 1's allowance for the time a message takes between the leader, a home and a holder. */
    static final long SLACK_NANOS = TimeUnit.MILLISECONDS.toNanos(250);
    static final long NEVER = Long.MAX_VALUE;

    /** An injected fault on {@code target} (a worker {@code w1} or a member {@code n0}) from {@code start} to {@code end}. */
    record Fault(String kind, String target, long start, long end) {}

    /**
     * How a holder learned its lock was gone other than by its release: REVOKED after an unmet
     * downgrade request, REVOKED after its home lost it, the path to its home lost (LOSTLINK),
     * something else, or not at all.
     */
    enum Loss { DOWNGRADE_UNMET, HOLDER_LOST, LOSTLINK, OTHER, NONE }

    /** A lock as its holder saw it. Times are {@link System#nanoTime()}; {@link #NEVER} when it did not happen. */
    record Grant(long owner, String worker, String home, String key, String state, long token, long requestedAt,
                 long grantedAt, long releasedAt, Loss loss) {
        boolean exclusive() {
            return !state.equals("SHARED");
        }

        boolean conflictsWith(String otherKey, long otherOwner, boolean otherExclusive) {
            return owner != otherOwner && key.equals(otherKey) && (exclusive() || otherExclusive);
        }

        boolean conflictsWith(Grant o) {
            return conflictsWith(o.key, o.owner, o.exclusive());
        }

        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s %s token %d (owner %d on %s via %s)", key, state, token, owner, worker,
                home);
        }
    }

    /** A request as its requester sent it. */
    record Request(long owner, String key, boolean exclusive, long at) {}

    /** A write as its writer saw it: {@code outcome} ok, fenced, failed or unknown; {@code index} for the store. */
    record Write(long owner, String key, long token, long read, long wrote, String outcome, long index, long startAt,
                 long endAt) {}

    /** A fenced operation the export acknowledged (a FLUSH presenting a token, or a write). */
    record Accepted(long owner, long token, long endAt) {}

    /** Two reads under a SHARED lock. */
    record SharedRead(long owner, String key, long token, long v1, long v2, long endAt) {}

    final List<Grant> grants = new ArrayList<>();
    final List<Request> requests = new ArrayList<>();
    final List<Write> writes = new ArrayList<>();
    final List<Accepted> diskAccepted = new ArrayList<>();
    final List<SharedRead> sharedReads = new ArrayList<>();
    final List<Fault> faults = new ArrayList<>();
    private final long leaseNanos;
    private int lines;
    private int cut;

    LockHistory(long leaseNanos) {
        this.leaseNanos = leaseNanos;
    }

    /** Reads worker histories (JSON lines; a line cut by a kill -9 is skipped and counted; a missing file is empty). */
    static LockHistory load(long leaseNanos, List<Path> files, List<Fault> faults) throws IOException {
        LockHistory h = new LockHistory(leaseNanos);
        h.faults.addAll(faults);
        for (Path f : files) {
            if (!Files.exists(f)) {
                continue; // a worker not yet started, or killed before it wrote anything
            }
            List<JsonNode> events = new ArrayList<>();
            for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
                try {
                    events.add(JSON.readTree(line));
                    h.lines++;
                } catch (IOException e) {
                    h.cut++;
                }
            }
            h.add(events);
        }
        return h;
    }

    /** One worker incarnation's events, in the order it wrote them. */
    void add(List<JsonNode> events) {
        String worker = "?";
        String home = "?";
        Map<Long, Long> requested = new HashMap<>();
        Map<Long, JsonNode> holding = new HashMap<>(); // owner -> its grant event, until its release
        List<long[]> made = new ArrayList<>(); // owner, token, requested, granted, released
        List<JsonNode> grantEvents = new ArrayList<>();
        Map<String, Loss> losses = new HashMap<>(); // "owner/token" -> how it learned (a REVOKED may come after its release)
        for (JsonNode e : events) {
            long t = e.path("t").asLong();
            long owner = e.path("owner").asLong();
            switch (e.path("ev").asText()) {
                case "start" -> {
                    worker = e.path("worker").asText();
                    home = e.path("home").asText();
                }
                case "req" -> {
                    requested.put(owner, t);
                    requests.add(new Request(owner, e.path("key").asText(), !e.path("state").asText().equals("SHARED"), t));
                }
                case "grant" -> {
                    holding.put(owner, e);
                    made.add(new long[] {owner, e.path("token").asLong(), requested.getOrDefault(owner, t), t, NEVER});
                    grantEvents.add(e);
                }
                case "lost" -> losses.putIfAbsent(owner + "/" + e.path("token").asLong(), loss(e));
                case "release" -> {
                    if (holding.remove(owner) != null) {
                        for (int i = made.size() - 1; i >= 0; i--) {
                            if (made.get(i)[0] == owner) {
                                made.get(i)[4] = t;
                                break;
                            }
                        }
                    }
                }
                case "present" -> {
                    if (e.path("outcome").asText().equals("ok")) {
                        diskAccepted.add(new Accepted(owner, e.path("token").asLong(), t));
                    }
                }
                case "write" -> {
                    Write w = new Write(owner, e.path("key").asText(), e.path("token").asLong(), e.path("read").asLong(),
                        e.path("wrote").asLong(), e.path("outcome").asText(), e.path("index").asLong(0),
                        e.path("t0").asLong(), t);
                    writes.add(w);
                    if (w.key().equals(LockWorker.DISK) && w.outcome().equals("ok")) {
                        diskAccepted.add(new Accepted(owner, w.token(), t));
                    }
                }
                case "sread" -> sharedReads.add(new SharedRead(owner, e.path("key").asText(), e.path("token").asLong(),
                    e.path("v1").asLong(), e.path("v2").asLong(), t));
                default -> { }
            }
        }
        for (int i = 0; i < made.size(); i++) { // a grant never released: killed, or the run ended first
            long[] g = made.get(i);
            JsonNode e = grantEvents.get(i);
            grants.add(new Grant(g[0], worker, home, e.path("key").asText(), e.path("state").asText(), g[1], g[2], g[3],
                g[4], losses.getOrDefault(g[0] + "/" + g[1], Loss.NONE)));
        }
    }

    /** The kind of a {@code lost} event, from its error and the lock table's reason (LockTable's wording). */
    static Loss loss(JsonNode e) {
        if (e.path("error").asInt() == Dmsg.ERR_LOSTLINK) {
            return Loss.LOSTLINK;
        }
        String why = e.path("why").asText();
        if (e.path("error").asInt() == Dmsg.ERR_REVOKED && why.contains("asked to downgrade")) {
            return Loss.DOWNGRADE_UNMET;
        }
        return e.path("error").asInt() == Dmsg.ERR_REVOKED && why.contains("holder was lost") ? Loss.HOLDER_LOST
            : Loss.OTHER;
    }

    /** Every broken rule of docs/CAC.md §9 (1–4), one line each; empty when the history is safe. */
    List<String> violations() {
        List<String> out = new ArrayList<>();
        leasePromise(out);
        storeFence(out);
        for (String key : List.of(LockWorker.DISK, LockWorker.KV)) {
            chain(key, out);
        }
        exportFence(out);
        sharedStable(out);
        return out;
    }

    /**
     * Rule 1: a conflicting grant only after the holder released, or at least a lease after that
     * lease could have started. A downgrade's lease starts when the leader applies a conflicting
     * request, so no sooner than the first such request was sent (nor than the holder asked); a
     * lost holder's lease when its home saw it go, which a stalled holder may learn late — so
     * then only the holder's own request bounds it. The holder's REVOKED says which it was.
     */
    void leasePromise(List<String> out) {
        for (Grant g1 : grants) {
            for (Grant g2 : grants) {
                if (g1.token() >= g2.token() || !g1.conflictsWith(g2) || g1.releasedAt() <= g2.grantedAt()) {
                    continue;
                }
                long asked = g1.requestedAt();
                long firstConflict = NEVER;
                for (Request r : requests) {
                    if (g1.conflictsWith(r.key(), r.owner(), r.exclusive()) && r.at() < g2.grantedAt()) {
                        firstConflict = Math.min(firstConflict, Math.max(r.at(), asked));
                    }
                }
                long start = switch (g1.loss()) {
                    case DOWNGRADE_UNMET -> firstConflict == NEVER ? asked : firstConflict;
                    default -> asked; // lost, or not told (yet): the weakest bound that is still sound
                };
                if (g2.grantedAt() < start + leaseNanos - SLACK_NANOS) {
                    out.add(String.format(Locale.ROOT, "rule 1: %s was granted %d ms after the lease of %s could "
                        + "have started (%s), under the %d ms lease", g2, ms(g2.grantedAt() - start), g1,
                        g1.loss() == Loss.DOWNGRADE_UNMET ? "a conflicting request" : "its own request",
                        ms(leaseNanos)));
                }
            }
        }
    }

    /** Rule 2: a store write acknowledged at index r with token T: no other owner's grant on the key between T and r. */
    void storeFence(List<String> out) {
        for (Write w : writes) {
            if (!w.key().equals(LockWorker.KV) || !w.outcome().equals("ok")) {
                continue;
            }
            for (Grant g : grants) {
                if (g.key().equals(w.key()) && g.owner() != w.owner() && g.token() > w.token() && g.token() < w.index()) {
                    out.add("rule 2: the store took a write with token " + w.token() + " at index " + w.index()
                        + " although " + g + " was granted between");
                }
            }
        }
    }

    /** Rule 3a: acknowledged writes of one resource, by the counter they wrote: distinct counters, tokens never decrease. */
    void chain(String key, List<String> out) {
        List<Write> ok = writes.stream().filter(w -> w.key().equals(key) && w.outcome().equals("ok"))
            .sorted(Comparator.comparingLong(Write::wrote)).toList();
        for (int i = 1; i < ok.size(); i++) {
            Write a = ok.get(i - 1);
            Write b = ok.get(i);
            if (a.wrote() == b.wrote()) {
                out.add("rule 3: lost update on " + key + ": owners " + a.owner() + " (token " + a.token() + ") and "
                    + b.owner() + " (token " + b.token() + ") both wrote counter " + b.wrote());
            } else if (b.token() < a.token()) {
                out.add("rule 3: on " + key + " counter " + b.wrote() + " was written with token " + b.token()
                    + " after counter " + a.wrote() + " with the newer token " + a.token());
            }
        }
    }

    /** Rule 3b: no disk write with token T acknowledged if it started after the export acknowledged a newer token. */
    void exportFence(List<String> out) {
        for (Write w : writes) {
            if (!w.key().equals(LockWorker.DISK) || !w.outcome().equals("ok")) {
                continue;
            }
            for (Accepted a : diskAccepted) {
                if (a.token() > w.token() && a.endAt() < w.startAt()) {
                    out.add("rule 3: the export took a write with token " + w.token() + " that started "
                        + ms(w.startAt() - a.endAt()) + " ms after it had acknowledged token " + a.token());
                    break;
                }
            }
        }
    }

    /** Rule 4: two reads under SHARED differ only if a conflicting grant came before the second. */
    void sharedStable(List<String> out) {
        for (SharedRead s : sharedReads) {
            if (s.v1() == s.v2()) {
                continue;
            }
            boolean explained = grants.stream().anyMatch(g -> g.key().equals(s.key()) && g.owner() != s.owner()
                && g.exclusive() && g.token() > s.token() && g.grantedAt() < s.endAt());
            if (!explained) {
                out.add("rule 4: owner " + s.owner() + " read " + s.key() + " as " + s.v1() + " then " + s.v2()
                    + " under SHARED token " + s.token() + " with no conflicting grant in between");
            }
        }
    }

    /** Acknowledged writes of {@code key}. */
    long acknowledged(String key) {
        return writes.stream().filter(w -> w.key().equals(key) && w.outcome().equals("ok")).count();
    }

    /** Writes of {@code key} refused by the fence. */
    long fenced(String key) {
        return writes.stream().filter(w -> w.key().equals(key) && w.outcome().equals("fenced")).count();
    }

    /** The largest counter acknowledged on {@code key}. */
    long lastCounter(String key) {
        return writes.stream().filter(w -> w.key().equals(key) && w.outcome().equals("ok")).mapToLong(Write::wrote)
            .max().orElse(0);
    }

    /** Grants made after {@code t}. */
    long grantedAfter(long t) {
        return grants.stream().filter(g -> g.grantedAt() > t).count();
    }

    /**
     * Liveness: for each lock its holder held when the holder was killed, how long until another
     * owner was granted the key (ms), among those with someone asking meanwhile.
     */
    List<Long> handOverAfterKills() {
        List<Long> out = new ArrayList<>();
        for (Fault f : faults) {
            if (!f.kind().equals("kill") || !f.target().startsWith("w")) {
                continue;
            }
            for (Grant g : grants) {
                if (!g.worker().equals(f.target()) || g.grantedAt() > f.start() || g.releasedAt() <= f.start()) {
                    continue;
                }
                grants.stream().filter(o -> o.conflictsWith(g) && o.grantedAt() > f.start() && o.requestedAt() < f.start() + leaseNanos)
                    .mapToLong(Grant::grantedAt).min().ifPresent(next -> out.add(ms(next - f.start())));
            }
        }
        return out;
    }

    String summary() {
        return String.format(Locale.ROOT, "%d events (%d lines cut by kills), %d grants, writes acknowledged/fenced: "
                + "disk %d/%d, store %d/%d, %d shared read pairs, %d faults", lines, cut, grants.size(),
            acknowledged(LockWorker.DISK), fenced(LockWorker.DISK), acknowledged(LockWorker.KV), fenced(LockWorker.KV),
            sharedReads.size(), faults.size());
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }
}
