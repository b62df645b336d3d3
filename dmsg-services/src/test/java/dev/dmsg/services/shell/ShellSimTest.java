package dev.dmsg.services.shell;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Link;
import dev.dmsg.link.tls.Role;
import dev.dmsg.mesh.CircuitHandle;
import dev.dmsg.mesh.MeshConfig;
import dev.dmsg.mesh.sim.SimMesh;
import dev.dmsg.services.Access;
import dev.dmsg.testkit.Await;
import dev.dmsg.wire.Dmsg;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The shell's dispatch, authorisation and per-caller bound (docs/REFERENCE.md §7, docs/SECURITY.md
 * §5) on the simulator: real links, spans and circuits, no sockets, one simulated clock, every
 * command run on the simulator's thread. What needs TLS — roles from pinned keys, attacks over
 * real sockets — stays in ShellAttackTest and NodeRolesTest; here the role is the plaintext one
 * the node gives every link ({@link Access}), capped at member over a circuit.
 */
@Timeout(30)
class ShellSimTest {
    static final Duration MS = Duration.ofMillis(1);

    final List<String> ran = new ArrayList<>();

    /** n0 – n1 – n2, converged; n2 runs a shell giving plaintext links {@code role}, on {@code executor}. */
    SimMesh line(Role role, Executor executor) {
        SimMesh m = new SimMesh(MeshConfig.defaults(), 7);
        for (int i = 0; i < 3; i++) {
            m.addNode("n" + i);
        }
        m.connect(m.nodes().get(0), m.nodes().get(1), MS, 0);
        m.connect(m.nodes().get(1), m.nodes().get(2), MS, 0);
        ShellService shell = new ShellService(executor == null ? m.scheduler() : executor, new Access(l -> role))
            .add("echo", "echo WORDS", (args, out) -> {
                ran.add("echo " + args);
                out.append(String.join(" ", args)).append('\n');
                return 0;
            })
            .add("set", "set KEY", Access.Level.CHANGE, (args, out) -> {
                ran.add("set " + args);
                out.append("changed\n");
                return 0;
            });
        shell.register(m.nodes().get(2).services());
        m.runUntilQuiet(Duration.ofSeconds(1), Duration.ofMinutes(1));
        assertThat(m.wrongPairs()).isZero();
        return m;
    }

    /** Steps the simulator a millisecond at a time until {@code f} completes (at most 5 s of its time). */
    static <T> T await(SimMesh m, CompletableFuture<T> f, String what) throws Exception {
        Await.stepping(() -> m.runFor(MS), 5000, f::isDone, what);
        return f.get();
    }

    /** n0's circuit to n2. */
    static CircuitHandle circuit(SimMesh m) throws Exception {
        return await(m, m.nodes().get(0).mesh().openCircuit(m.nodes().get(2).key()), "a circuit n0 → n2");
    }

    /** n2's side of its link with n1: what n1 sends on circuit 0 arrives there, n1's side opens it. */
    static Link directFromN1(SimMesh m) {
        return m.links().get(1).end(m.nodes().get(1));
    }

    record Answer(int status, String output) {}

    static Answer call(SimMesh m, ShellCall.Opener opener, String line) throws Exception {
        StringBuilder out = new StringBuilder();
        ShellCall.Call c = ShellCall.run(opener, line, out::append, () -> "lost");
        int status = await(m, c.status(), "the answer to '" + line + "'");
        return new Answer(status, out.toString().replace("\0", ""));
    }

    @Test
    void aCommandRunsOnTheFarNodeOverACircuitAndUnknownOnesAreRefused() throws Exception {
        SimMesh m = line(Role.MEMBER, null);
        CircuitHandle c = circuit(m);
        assertThat(call(m, c::open, "echo hello there")).isEqualTo(new Answer(0, "hello there\n"));
        Answer none = call(m, c::open, "nosuch x");
        assertThat(none.status()).isEqualTo(Dmsg.ERR_PARAM);
        assertThat(none.output()).isEqualTo("Unrecognized command: nosuch (try help)\n");
        assertThat(call(m, c::open, "help").output()).contains("echo WORDS").contains("set KEY");
        assertThat(ran).containsExactly("echo [hello, there]");
    }

    @Test
    void overACircuitEvenAnAdminLinkIsAMemberWhoMayReadButNotChange() throws Exception {
        SimMesh m = line(Role.ADMIN, null);
        CircuitHandle c = circuit(m);
        assertThat(call(m, c::open, "echo hi").status()).isZero();
        Answer set = call(m, c::open, "set x");
        assertThat(set.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(set.output()).startsWith("set: refused: needs the admin role (it changes this node); ")
            .contains("(member").contains("over a circuit").endsWith(" may not\n");
        // on its own link (circuit 0) the neighbour is the admin the node takes it for
        assertThat(call(m, directFromN1(m)::open, "set x")).isEqualTo(new Answer(0, "changed\n"));
        assertThat(ran).containsExactly("echo [hi]", "set [x]");
    }

    @Test
    void aClientWithoutShellReadIsRefusedEvenReading() throws Exception {
        SimMesh m = line(Role.CLIENT, null);
        Answer echo = call(m, directFromN1(m)::open, "echo hi");
        assertThat(echo.status()).isEqualTo(Dmsg.ERR_PERM);
        assertThat(echo.output()).startsWith("echo: refused: needs the admin or member role, or a client granted"
            + " shell-ro; ");
        assertThat(ran).isEmpty();
    }

    @Test
    void aCallerHasAtMostFourCommandsInProgressAndTheFifthIsBusyAtOnce() throws Exception {
        ArrayDeque<Runnable> held = new ArrayDeque<>(); // the shell's executor, run when the test says
        SimMesh m = line(Role.MEMBER, held::add);
        CircuitHandle c = circuit(m);
        List<ShellCall.Call> calls = new ArrayList<>();
        for (int i = 0; i < ShellService.PER_CALLER; i++) {
            calls.add(ShellCall.run(c::open, "echo " + i, s -> { }, () -> "lost"));
        }
        m.runFor(Duration.ofMillis(50));
        assertThat(held).hasSize(ShellService.PER_CALLER);
        Answer busy = call(m, c::open, "echo 4");
        assertThat(busy.status()).isEqualTo(Dmsg.ERR_LIMIT);
        assertThat(busy.output()).startsWith("busy: ").contains("has 4 shell commands in progress on this node");
        while (!held.isEmpty()) {
            m.scheduler().execute(held.poll());
        }
        for (ShellCall.Call k : calls) {
            assertThat(await(m, k.status(), "a held command")).isZero();
        }
        ShellCall.Call again = ShellCall.run(c::open, "echo 5", s -> { }, () -> "lost");
        m.runFor(Duration.ofMillis(50));
        assertThat(held).as("a slot is free again").hasSize(1);
        m.scheduler().execute(held.poll());
        assertThat(await(m, again.status(), "echo 5")).isZero();
        assertThat(ran).containsExactly("echo [0]", "echo [1]", "echo [2]", "echo [3]", "echo [5]");
    }

    @Test
    void aCommandWhoseCircuitIsCutEndsWithTheLossNotAHang() throws Exception {
        ArrayDeque<Runnable> held = new ArrayDeque<>(); // never run: the command is in progress when the cut lands
        SimMesh m = line(Role.MEMBER, held::add);
        CircuitHandle c = circuit(m);
        ShellCall.Call k = ShellCall.run(c::open, "echo never", s -> { }, () -> "lost with the circuit");
        m.runFor(Duration.ofMillis(50));
        assertThat(held).hasSize(1);
        m.cut(m.links().get(1));
        Await.stepping(() -> m.runFor(MS), 5000, k.status()::isDone, "the command ends with the cut");
        assertThat(k.status()).isCompletedExceptionally();
        assertThat(k.status().handle((v, e) -> e.getMessage()).get()).isEqualTo("lost with the circuit");
    }
}
