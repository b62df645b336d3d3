package dev.dmsg.services.node;

import dev.dmsg.mesh.CircuitException;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.mesh.NodeKey;
import dev.dmsg.mesh.SpanExt;
import dev.dmsg.services.EchoService;
import dev.dmsg.services.shell.Delegation;
import dev.dmsg.services.shell.ShellCall;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.shell.ShellService;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The shell commands that reach across the mesh through circuits (docs/PROFILE.md §6–7): {@code circuits},
 * {@code ping NODE}, and {@code @NODE COMMAND}, which runs COMMAND in the shell of another node.
 * Each remote command forges its own circuit and closes it afterwards: nothing is cached, so a
 * command always takes the best path the mesh offers at that moment (the price is one round
 * trip per hop to forge it, reported by {@code ping}).
 *
 * <p>Threads: these run on the node's shell pool; they wait for circuits and answers with a
 * bound, never on an event loop.
 */
final class RemoteCommands {
    /** How long a command waits for a path (re-convergence after a failure), then fails. */
    static final Duration PATH_WAIT = Duration.ofSeconds(3);
    /** The longest a remote command may take; the caller's own timeout should be longer. */
    static final Duration REMOTE_TIMEOUT = Duration.ofSeconds(30);
    static final Duration PING_TIMEOUT = Duration.ofSeconds(5);
    static final int PING_MAX = 1000;

    private final Node node;
    private final MeshNode mesh;

    RemoteCommands(Node node, MeshNode mesh) {
        this.node = node;
        this.mesh = mesh;
    }

    void addTo(ShellService shell) {
        shell.add("circuits", "circuits                  the circuits from, to and through this node", this::circuits);
        shell.add("ping", "ping NODE [COUNT]         round trips to NODE over a circuit (default 3)", this::ping);
        shell.add("circ", "circ MSGID                forge a circuit over the received span MSGID (hex, from 'tree')", this::circ);
        shell.remote("@NODE COMMAND             run COMMAND in NODE's shell, through a circuit",
            (caller, d, name, line) -> remote(shell, caller, d, name, line));
    }

    // ------------------------------------------------------------------------------------------

    private int circuits(List<String> args, StringBuilder out) {
        if (!args.isEmpty()) {
            throw new IllegalArgumentException("takes no arguments");
        }
        out.append(circuitsTable(mesh.circuits()));
        return 0;
    }

    /**
     * The text of {@code circuits}: a count, then one row per circuit. Each column is as wide as
     * its widest cell (at least its usual width), so a long name — an export's serial is up to 127
     * characters — widens its column instead of pushing the rest of its row out of line.
     */
    static String circuitsTable(List<MeshNode.CircuitView> all) {
        StringBuilder out = new StringBuilder("circuits: ").append(all.size()).append('\n');
        if (all.isEmpty()) {
            return out.toString();
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"ROLE", "NODE", "LINK #ID", "OTHER SIDE #ID", "AGE", "STATE / MSGS RELAYED"});
        for (MeshNode.CircuitView v : all) {
            String side = v.link() + " #" + Long.toHexString(v.id());
            String other = v.otherLink() == null ? "-" : v.otherLink() + " #" + Long.toHexString(v.otherId());
            String state = v.open() ? "open" : "forging";
            if (v.role().equals("relay")) {
                state += String.format("  %d -> / %d <-", v.forwarded(), v.returned());
            }
            rows.add(new String[] {v.role(), v.target().fsLabel(), side, other,
                String.format("%.1fs", v.ageNanos() / 1e9), state});
        }
        int[] width = {8, 16, 32, 32, 8, 0};
        for (String[] r : rows) {
            for (int i = 0; i < width.length - 1; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        for (String[] r : rows) {
            out.append(String.format("  %-" + width[0] + "s %-" + width[1] + "s %-" + width[2] + "s %-" + width[3]
                + "s %" + width[4] + "s %s%n", (Object[]) r));
        }
        return out.toString();
    }

    // ------------------------------------------------------------------------------------------

    private int ping(List<String> args, StringBuilder out) throws Exception {
        if (args.isEmpty() || args.size() > 2) {
            throw new IllegalArgumentException("expected NODE [COUNT]");
        }
        int count = 3;
        if (args.size() == 2) {
            try {
                count = Integer.parseInt(args.get(1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("COUNT must be a number, not '" + args.get(1) + "'");
            }
            if (count < 1 || count > PING_MAX) {
                throw new IllegalArgumentException("COUNT must be 1.." + PING_MAX);
            }
        }
        String name = args.get(0);
        NodeKey key = resolve(name, out);
        if (key == null) {
            return Dmsg.ERR_CANTCIRC;
        }
        long t0 = System.nanoTime();
        CircuitHandle c = open(key, "ping " + name, out);
        if (c == null) {
            return Dmsg.ERR_CANTCIRC;
        }
        try {
            out.append(String.format("circuit #%x to %s via %s, %d hop(s), forged in %.3f ms%n", c.id(), name,
                c.link().peerLabel(), c.hops(), (System.nanoTime() - t0) / 1e6));
            long min = Long.MAX_VALUE;
            long max = 0;
            long sum = 0;
            int received = 0;
            int sentCount = 0;
            long deadline = System.nanoTime() + REMOTE_TIMEOUT.toNanos(); // a shell thread is held: bounded in all
            for (int seq = 1; seq <= count; seq++) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    out.append(String.format("stopped after %d s (a ping holds a shell thread; the limit)%n",
                        REMOTE_TIMEOUT.toSeconds()));
                    break;
                }
                sentCount++;
                String payload = "ping " + seq + " from " + node.identity().label();
                CompletableFuture<Integer> answered = new CompletableFuture<>();
                long sent = System.nanoTime();
                c.open(EchoService.DBG_ECHO | Dmsg.DELETE, null,
                    Unpooled.copiedBuffer(payload + "\0", StandardCharsets.UTF_8), (t, m) -> {
                        if (m.isDelete()) {
                            answered.complete(m.isAbort() ? -m.error() : m.error());
                        }
                    });
                int status;
                try {
                    status = answered.get(Math.min(PING_TIMEOUT.toNanos(), left), TimeUnit.NANOSECONDS);
                } catch (TimeoutException e) {
                    out.append(String.format("seq=%d: no answer within %d s%n", seq, PING_TIMEOUT.toSeconds()));
                    continue;
                }
                long rtt = System.nanoTime() - sent;
                if (status != 0) {
                    out.append(String.format("seq=%d: %s%n", seq, status == -Dmsg.ERR_LOSTLINK
                        ? "circuit lost: " + lostReason(c) : "error " + ErrorCode.nameOf(Math.abs(status))));
                    if (!c.isOpen()) {
                        break;
                    }
                    continue;
                }
                received++;
                min = Math.min(min, rtt);
                max = Math.max(max, rtt);
                sum += rtt;
                out.append(String.format("reply from %s: seq=%d time=%.3f ms%n", name, seq, rtt / 1e6));
            }
            out.append(String.format("%d sent, %d received", sentCount, received));
            if (received > 0) {
                out.append(String.format(", rtt min/avg/max = %.3f/%.3f/%.3f ms", min / 1e6, sum / 1e6 / received,
                    max / 1e6));
            }
            out.append('\n');
            return received == count ? 0 : Dmsg.ERR_LOSTLINK;
        } finally {
            c.close();
        }
    }

    // ------------------------------------------------------------------------------------------

    /**
     * The C shell's debug aid (docs/REFERENCE.md §7.3, {@code circ <msgid-hex>}): forge a circuit over one
     * particular received span, not the best path, and report. C left the circuit open with
     * nothing on it; we close it once forged.
     */
    private int circ(List<String> args, StringBuilder out) throws Exception {
        if (args.size() != 1) {
            throw new IllegalArgumentException("expected one MSGID (hex)");
        }
        long msgid;
        try {
            msgid = Long.parseUnsignedLong(args.get(0).startsWith("0x") ? args.get(0).substring(2) : args.get(0), 16);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("MSGID must be hexadecimal, not '" + args.get(0) + "'");
        }
        long t0 = System.nanoTime();
        CircuitHandle c;
        try {
            c = mesh.openCircuitOver(msgid).get(2 * mesh.engine().config().circuitAckTimeoutNanos() / 1_000_000,
                TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            String why = e.getCause() instanceof CircuitException ce ? ce.getMessage() : String.valueOf(e.getCause());
            out.append("circ: ").append(why).append('\n');
            return Dmsg.ERR_CANTCIRC;
        }
        out.append(String.format("circuit #%x to %s via %s over span %016x: acknowledged (result 0) in %.3f ms; "
            + "closed%n", c.id(), MeshNode.describe(c.target()), c.link().peerLabel(), msgid, (System.nanoTime() - t0) / 1e6));
        c.close();
        return 0;
    }

    // ------------------------------------------------------------------------------------------

    /**
     * {@code @NODE COMMAND} for {@code caller}: on this node itself, COMMAND runs here with the
     * caller's own rights (never with the node's); elsewhere a circuit is forged and COMMAND is
     * sent with the delegation, so the far end runs it with the lesser of the rights it gives this
     * node and the caller's (docs/IDENTITY.md §5). Holds no thread while it waits.
     */
    private CompletableFuture<ShellService.Result> remote(ShellService shell, ShellService.Caller caller,
                                                          Delegation d, String name, String line) {
        StringBuilder out = new StringBuilder();
        NodeKey key;
        try {
            key = resolve(name, out);
        } catch (Exception e) {
            return CompletableFuture.completedFuture(new ShellService.Result(Dmsg.ERR_IO, "@" + name + ": " + e + "\n"));
        }
        if (key == null) {
            return CompletableFuture.completedFuture(new ShellService.Result(Dmsg.ERR_CANTCIRC, out.toString()));
        }
        if (key.pfsFsid().equals(node.identity().pfsFsid()) && key.fsLabel().equals(node.identity().label())) {
            // @self: no circuit to oneself, and the same caller one level deeper
            return shell.executeAsync(line, new ShellService.Caller(caller == null ? null : caller.link(),
                caller == null ? 0 : caller.circuit(), d));
        }
        // Our nodes get the delegation; a 2013 C shell (a span without our extension) the line alone.
        Delegation passed = isOurs(key) ? d : null;
        long openWaitMillis = PATH_WAIT.toMillis() + 2 * mesh.engine().config().circuitAckTimeoutNanos() / 1_000_000;
        CompletableFuture<ShellService.Result> done = new CompletableFuture<>();
        mesh.openCircuit(key, PATH_WAIT).orTimeout(openWaitMillis, TimeUnit.MILLISECONDS).whenComplete((c, e) -> {
            if (e != null) {
                Throwable cause = e instanceof CompletionException && e.getCause() != null
                    ? e.getCause() : e;
                String why = cause instanceof CircuitException ce ? ce.getMessage() : String.valueOf(cause);
                done.complete(new ShellService.Result(Dmsg.ERR_CANTCIRC, "@" + name + ": " + why + "\n"));
                return;
            }
            StringBuffer remoteOut = new StringBuffer(); // appended on the link's event loop
            ShellCall.Call call = ShellCall.run(c::open, line, passed, remoteOut::append,
                () -> "@" + name + ": circuit lost: " + lostReason(c));
            call.status().orTimeout(REMOTE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).whenComplete((status, ex) -> {
                c.close();
                if (ex == null) {
                    done.complete(new ShellService.Result(status, remoteOut.toString()));
                    return;
                }
                Throwable cause = ex instanceof CompletionException && ex.getCause() != null
                    ? ex.getCause() : ex;
                if (cause instanceof ShellClient.ShellException se) {
                    done.complete(new ShellService.Result(Dmsg.ERR_LOSTLINK, remoteOut + se.getMessage() + "\n"));
                } else if (cause instanceof TimeoutException) {
                    call.abandon();
                    done.complete(new ShellService.Result(Dmsg.ERR_IO, remoteOut + "@" + name + ": no answer within "
                        + REMOTE_TIMEOUT.toSeconds() + " s\n"));
                } else {
                    done.complete(new ShellService.Result(Dmsg.ERR_IO, remoteOut + "@" + name + " failed: " + cause + "\n"));
                }
            });
        });
        return done;
    }

    /** Whether the node behind {@code key} is one of ours (its span carries our loop-freedom extension). */
    private boolean isOurs(NodeKey key) {
        try {
            CompletableFuture<Boolean> f = new CompletableFuture<>();
            mesh.execute(() -> {
                var best = mesh.engine().bestLinkFor(key);
                f.complete(best != null && SpanExt.of(best.span()) != null);
            });
            return f.get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            return false;
        }
    }

    // ------------------------------------------------------------------------------------------

    /** The node {@code name} names, or {@code null} with the reason in {@code out}. */
    private NodeKey resolve(String name, StringBuilder out) throws Exception {
        try {
            return node.resolve(name);
        } catch (IllegalArgumentException e) {
            out.append(e.getMessage()).append('\n');
            return null;
        }
    }

    /** A circuit to {@code key}, waiting {@link #PATH_WAIT} for a path; or {@code null} with the reason in {@code out}. */
    private CircuitHandle open(NodeKey key, String what, StringBuilder out) throws Exception {
        try {
            return mesh.openCircuit(key, PATH_WAIT).get(PATH_WAIT.toMillis() + 2 * mesh.engine().config()
                .circuitAckTimeoutNanos() / 1_000_000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            String why = e.getCause() instanceof CircuitException ce ? ce.getMessage() : String.valueOf(e.getCause());
            out.append(what).append(": ").append(why).append('\n');
            return null;
        }
    }

    /** Why {@code c} was lost; if its link died first, that link's reason. */
    private static String lostReason(CircuitHandle c) {
        String why = c.lostReason();
        if (why != null) {
            return why;
        }
        return c.link().state().isAlive() ? "aborted"
            : "the link to " + c.link().peerLabel() + " was lost (" + c.link().closeReason() + ")";
    }
}
