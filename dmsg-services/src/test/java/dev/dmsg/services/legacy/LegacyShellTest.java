package dev.dmsg.services.legacy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.link.Link;
import dev.dmsg.link.LinkConfig;
import dev.dmsg.link.LinkListener;
import dev.dmsg.link.Services;
import dev.dmsg.link.netty.LinkEndpoint;
import dev.dmsg.services.node.Node;
import dev.dmsg.services.node.Security;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.testing.TestCluster;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * docs/LEGACY.md, the shell: our client against the scripted 2013 C node ({@link LegacyCRelay} and
 * its {@link LegacyCShell}), which fails the test at close if it was sent anything the real one
 * would not survive — the single CREATE|DELETE our shell client sent before this (which killed the
 * real libdmsg with a double free) included; and a hostile "C node" that floods our client.
 */
@ExtendWith(LeakDetector.class)
@Timeout(60)
class LegacyShellTest {
    static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    @RegisterExtension
    final TestCluster cluster = new TestCluster(() -> tmp);

    /** A relay whose tree holds zulu (a node of ours it dialled, as in the interop runs). */
    LegacyCRelay relayWithZulu() throws Exception {
        LegacyCRelay relay = new LegacyCRelay();
        cluster.closing(relay);
        Node z = cluster.start(Node.Settings.builder("127.0.0.1", 0, tmp.resolve("zulu"), TestCluster.identity("zulu"))
            .pingInterval(Duration.ofSeconds(30)).deadTimeout(Duration.ofSeconds(60))
            .security(Security.defaults().withLegacy(List.of(Security.LegacyPeer.parse("127.0.0.1=member"))))
            .build());
        relay.connect("127.0.0.1", z.address().getPort());
        Await.until(() -> relay.tree().contains("(zulu)"), T, "the relay learns zulu's span");
        return relay;
    }

    ShellClient client(int port) throws Exception {
        ShellClient c = ShellClient.connect("127.0.0.1", port, "dmsg-cli", T);
        cluster.closing(c);
        return c;
    }

    @Test
    void treeAgainstACNodePrintsItsTreeInItsOwnFraming() throws Exception {
        LegacyCRelay relay = relayWithZulu();
        ShellClient c = client(relay.port());
        assertThat(c.legacyNode()).as("its LNK_CONN has no marker of ours").isTrue();
        String tree = c.call("tree", T);
        assertThat(tree).isEqualTo(relay.tree()).contains("Cluster ").contains("    Node ").contains("(zulu)")
            .contains("\tSLink msgid ");
        assertThat(c.call("help", T)).isEqualTo(String.join("", LegacyCShell.HELP));
        // Ours are not its commands: it says so, and its status (the prompt's error) is 0, as C's was.
        assertThat(c.call("status --json", T)).isEqualTo("Unrecognized command: status --json\n");
        assertThat(relay.shellCommands()).isEqualTo(3);
        assertThat(relay.crashInputs()).isEmpty();
    }

    @Test
    void commandsQueueInOrderAndAnAbandonedOnesLateOutputIsDropped() throws Exception {
        LegacyCRelay relay = relayWithZulu();
        ShellClient c = client(relay.port());
        List<CompletableFuture<String>> outs = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (String line : List.of("help", "tree", "nonsense", "tree")) {
            CompletableFuture<String> f = new CompletableFuture<>();
            outs.add(f);
            Thread t = new Thread(() -> {
                try {
                    f.complete(c.call(line, T));
                } catch (Exception e) {
                    f.completeExceptionally(e);
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join(T.toMillis());
        }
        assertThat(outs.get(0).get()).isEqualTo(String.join("", LegacyCShell.HELP));
        assertThat(outs.get(1).get()).isEqualTo(relay.tree());
        assertThat(outs.get(2).get()).isEqualTo("Unrecognized command: nonsense\n");
        assertThat(outs.get(3).get()).isEqualTo(relay.tree());
    }

    @Test
    void aLineTheCNodeCannotReadIsRefusedHereWithTheReason() throws Exception {
        LegacyCRelay relay = relayWithZulu();
        ShellClient c = client(relay.port());
        assertThatThrownBy(() -> c.call("x".repeat(256), T)).isInstanceOf(ShellClient.ShellException.class)
            .hasMessageContaining("at most 255 characters");
        assertThatThrownBy(() -> c.call("tree\nhelp", T)).hasMessageContaining("without newlines");
        assertThat(c.call("x".repeat(255), T)).startsWith("Unrecognized command: xxx"); // 255 is fine
        assertThat(relay.shellCommands()).isEqualTo(1);
    }

    /**
     * The strict peer is a checker, so it must be able to fail: a link that does not know the peer
     * is a 2013 node (what our shell client was before) opens the command in one message, and the
     * scripted node records the double free the real one died of.
     */
    @Test
    void theStrictPeerCatchesTheOneMessageTransactionThatKilledTheRealOne() throws Exception {
        LegacyCRelay relay = relayWithZulu();
        assertThat(treeAsOneTransaction(relay, false)).isZero();
        assertThat(relay.crashInputs()).singleElement().asString()
            .contains("CREATE|DELETE toward a libdmsg responder (double free)");
        relay.tolerateCrashInputs(); // this test sent it on purpose

        // The same transaction from a link that knows: CREATE, then LNK_ERROR|DELETE; nothing recorded.
        LegacyCRelay clean = relayWithZulu();
        assertThat(treeAsOneTransaction(clean, true)).isZero();
        assertThat(clean.shellCommands()).isEqualTo(1);
        assertThat(clean.crashInputs()).isEmpty();
    }

    /** Opens {@code tree} as a DBG_SHELL|DELETE transaction on a link that does or does not know; its status. */
    int treeAsOneTransaction(LegacyCRelay relay, boolean knowsItIsLegacy) throws Exception {
        LinkEndpoint ep = new LinkEndpoint(LinkConfig.builder().label("client").conn(LinkConfig.defaultConn("client"))
            .legacyPeer(knowsItIsLegacy).build(), new Services(), LinkListener.NONE, 1);
        cluster.closing(() -> ep.close(Duration.ofSeconds(2)));
        Link l = ep.connect("127.0.0.1", relay.port()).get(T.toSeconds(), TimeUnit.SECONDS);
        CompletableFuture<Integer> done = new CompletableFuture<>();
        l.execute(() -> l.open(Dmsg.DBG_SHELL | Dmsg.DELETE, null, Unpooled.copiedBuffer("tree\0", StandardCharsets.UTF_8),
            (t, m) -> {
                if (m.isDelete()) {
                    done.complete(m.error());
                }
            }));
        return done.get(T.toSeconds(), TimeUnit.SECONDS);
    }

    /**
     * Attack: a hostile plaintext "C node" floods our client with output and prompts nobody asked
     * for, before and between commands. Unasked-for ones are dropped (nothing accumulates), and
     * honest answers still reach the command that asked.
     */
    @Test
    void aNodeFloodingUnaskedOutputAndPromptsCannotBloatOrConfuseTheClient() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            // The node holds its socket open until the link's liveness is checked: its close would
            // otherwise race the check (the client sees EOF and, rightly, ends the link).
            CountDownLatch checked = new CountDownLatch(1);
            CompletableFuture<Void> served = CompletableFuture.runAsync(() -> hostile(server, checked));
            ShellClient c = client(server.getLocalPort());
            assertThat(c.legacyNode()).isTrue();
            // One-way framing has no msgid: a prompt crossing our command would end it early (the
            // node can as well lie about its output). What must hold: the flood is dropped, not kept.
            Link l = c.link();
            Await.until(() -> msgsIn(l) >= 1 + 20_000 + 500, T, "the client read the whole flood");
            assertThat(c.call("tree", T)).isEqualTo("honest answer\n");
            assertThat(c.call("tree", T)).isEqualTo("honest answer\n");
            assertThat(l.state().isAlive()).isTrue();
            checked.countDown();
            served.get(T.toSeconds(), TimeUnit.SECONDS);
        }
    }

    static long msgsIn(Link l) {
        CompletableFuture<Long> f = new CompletableFuture<>();
        l.execute(() -> f.complete(l.stats().msgsIn()));
        try {
            return f.get(T.toSeconds(), TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** Unmarked LNK_CONN, 20,000 unasked output messages and 500 prompts, then honest answers to two commands. */
    private static void hostile(ServerSocket server, CountDownLatch checked) {
        try (Socket s = server.accept()) {
            FrameEncoder enc = new FrameEncoder();
            OutputStream out = s.getOutputStream();
            var in = s.getInputStream();
            write(enc, out, Message.of(Dmsg.LNK_CONN | Dmsg.CREATE, 0x800, 0, 0, LinkConfig.defaultConn("evil"), null));
            for (int i = 0; i < 20_000; i++) {
                write(enc, out, Message.of(Dmsg.DBG_SHELL | Dmsg.REPLY, 0, 0, 0, null,
                    Unpooled.copiedBuffer("junk " + i + "\n\0", StandardCharsets.UTF_8)));
                if (i % 40 == 0) {
                    write(enc, out, Message.of(Dmsg.LNK_ERROR | Dmsg.REPLY, 0, 0, 0));
                }
            }
            out.flush();
            var dec = new FrameDecoder();
            ByteBuf acc = Unpooled.buffer();
            byte[] buf = new byte[4096];
            int answered = 0;
            try {
                while (answered < 2) {
                    int n = in.read(buf);
                    if (n < 0) {
                        return;
                    }
                    acc.writeBytes(buf, 0, n);
                    Message m;
                    while ((m = dec.decode(acc)) != null) {
                        boolean command = m.cmd() == Dmsg.DBG_SHELL;
                        m.release();
                        if (command) {
                            write(enc, out, Message.of(Dmsg.DBG_SHELL | Dmsg.REPLY, 0, 0, 0, null,
                                Unpooled.copiedBuffer("honest answer\n\0", StandardCharsets.UTF_8)));
                            write(enc, out, Message.of(Dmsg.LNK_ERROR | Dmsg.REPLY, 0, 0, 0));
                            out.flush();
                            answered++;
                        }
                    }
                    acc.discardReadBytes();
                }
            } finally {
                acc.release();
            }
            if (!checked.await(T.toSeconds(), TimeUnit.SECONDS)) {
                throw new IllegalStateException("the test never checked the link");
            }
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static void write(FrameEncoder enc, OutputStream out, Message m) throws IOException {
        ByteBuf b = Unpooled.buffer();
        try {
            enc.encode(m, b);
            b.readBytes(out, b.readableBytes());
        } finally {
            b.release();
            m.release();
        }
    }
}
