package dev.dmsg.services.page;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.page.MeshGraph.Answer;
import dev.dmsg.services.page.MeshGraph.GraphNode;
import dev.dmsg.services.page.MeshGraph.Reachable;
import dev.dmsg.services.page.MeshGraph.State;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.LongSupplier;

/**
 * Gathers a {@link MeshGraph}: the serving node's own status document, and each reachable node's,
 * asked over the mesh ({@code @NODE status --json}), within the bounds of docs/STATUS-PAGE.md: at
 * most {@link #MAX_ASKED} nodes, one question in flight per node (an answer later than the wait is
 * used by the next gathering, which does not ask again), {@link #WAIT} for all answers
 * together, the graph kept {@link #CACHE} long. Remembers the nodes it has seen, so that one that
 * leaves the span table is drawn {@link State#GONE}.
 *
 * <p>Concurrency: {@link #graph} is synchronized (one gathering at a time; a caller that comes
 * while one runs then gets its cached result). Answers complete on the links' threads and run
 * nothing of ours there: a gathering reads them (a late one at the next gathering).
 */
public final class GraphSource {
    public static final int MAX_ASKED = 32;
    public static final Duration WAIT = Duration.ofMillis(1500);
    public static final Duration CACHE = Duration.ofMillis(1500);
    /** Gone nodes remembered at most; the oldest seen is forgotten first. */
    static final int MAX_REMEMBERED = 256;

    /** Asks one node for its status document; completes when it answers (or never). */
    @FunctionalInterface
    public interface Asker {
        CompletableFuture<Answer> ask(String label);
    }

    /** A gathered graph, when it was gathered and how long that took. */
    public record Gathered(MeshGraph graph, long atNanos, long tookNanos) {}

    /** The serving node's own document, read now. */
    @FunctionalInterface
    public interface SelfDoc {
        JsonNode read() throws Exception;
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final SelfDoc self;
    private final Asker asker;
    private final LongSupplier nanoTime;
    private final Duration wait;
    /** Questions not answered by the end of a gathering: asked again only once answered. Under the lock. */
    private final Map<String, CompletableFuture<Answer>> inFlight = new HashMap<>();
    /** Label → last distance seen; access order, so the oldest seen is first. */
    private final LinkedHashMap<String, Integer> seen = new LinkedHashMap<>(16, 0.75f, true);
    private Gathered last;

    public GraphSource(SelfDoc self, Asker asker, LongSupplier nanoTime, Duration wait) {
        this.self = self;
        this.asker = asker;
        this.nanoTime = nanoTime;
        this.wait = wait;
    }

    /** The graph as {@code node} sees it, asking through its own shell with its own rights. */
    public static GraphSource of(Node node) {
        return new GraphSource(node::status, label -> overShell(node.shell(), label), System::nanoTime, WAIT);
    }

    /** {@code @LABEL status --json} run by the node itself ({@link ShellService#executeAsync} with no caller). */
    static CompletableFuture<Answer> overShell(ShellService shell, String label) {
        if (shell == null) {
            return CompletableFuture.completedFuture(Answer.failed(State.NOT_ASKED, "this node runs no shell"));
        }
        return shell.executeAsync("@" + label + " status --json", null)
            .thenApply(r -> answerOf(r.status(), r.output()));
    }

    /** What a node's answer to {@code status --json} means for the graph. */
    public static Answer answerOf(int status, String output) {
        if (status == Dmsg.ERR_PERM) {
            return Answer.failed(State.REFUSED, firstLine(output));
        }
        if (status != 0) {
            return Answer.failed(State.NO_ANSWER, ErrorCode.nameOf(status) + ": " + firstLine(output));
        }
        try {
            JsonNode doc = JSON.readTree(output);
            if (doc == null || !doc.isObject()) {
                return Answer.failed(State.NO_ANSWER, "not a status document");
            }
            return Answer.of(doc);
        } catch (Exception e) {
            return Answer.failed(State.NO_ANSWER, "not a status document: " + firstLine(String.valueOf(e.getMessage())));
        }
    }

    private static String firstLine(String s) {
        String t = s.strip();
        int nl = t.indexOf('\n');
        t = nl < 0 ? t : t.substring(0, nl);
        return t.length() > 200 ? t.substring(0, 200) + "…" : t;
    }

    /** The graph, gathered now unless one gathered less than {@link #CACHE} ago. */
    public synchronized Gathered graph() throws Exception {
        long now = nanoTime.getAsLong();
        if (last != null && now - last.atNanos() < CACHE.toNanos()) {
            return last;
        }
        JsonNode doc = self.read();
        List<Reachable> reach = MeshGraph.reachable(doc);
        Map<String, CompletableFuture<Answer>> asked = new LinkedHashMap<>();
        for (Reachable r : reach) {
            if (r.dist() < 0 || asked.size() >= MAX_ASKED) {
                continue;
            }
            CompletableFuture<Answer> f = inFlight.remove(r.label()); // last time's question, answered since or not
            if (f == null) {
                f = asker.ask(r.label());
            }
            asked.put(r.label(), f);
        }
        inFlight.clear(); // questions to nodes no longer reachable: dropped
        long deadline = now + wait.toNanos();
        Map<String, Answer> answers = new HashMap<>();
        for (Map.Entry<String, CompletableFuture<Answer>> e : asked.entrySet()) {
            long left = deadline - nanoTime.getAsLong();
            answers.put(e.getKey(), await(e.getValue(), left));
            if (!e.getValue().isDone()) {
                inFlight.put(e.getKey(), e.getValue()); // not asked again: its answer is used when it comes
            }
        }
        MeshGraph g = MeshGraph.build(doc, answers, seen.keySet(), seen);
        for (GraphNode n : g.nodes()) {
            if (n.state() != State.GONE) {
                seen.put(n.label(), n.dist());
            }
        }
        while (seen.size() > MAX_REMEMBERED) {
            seen.remove(seen.keySet().iterator().next());
        }
        long done = nanoTime.getAsLong();
        last = new Gathered(g, done, done - now);
        return last;
    }

    private static Answer await(CompletableFuture<Answer> f, long nanos) throws InterruptedException {
        try {
            return f.get(Math.max(0, nanos), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return Answer.failed(State.NO_ANSWER, "no answer within " + WAIT.toMillis() + " ms");
        } catch (ExecutionException e) {
            return Answer.failed(State.NO_ANSWER, String.valueOf(e.getCause()));
        }
    }
}
