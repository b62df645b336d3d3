package dev.dmsg.link;

import static dev.dmsg.link.LinkScript.ECHO;
import static dev.dmsg.link.LinkScript.OPAQUE;
import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;
import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the receive state machine of one {@link Iocom}: an arbitrary interleaving of messages
 * from the peer (any command, flags, msgid, circuit and error) and of local API calls (open,
 * send, reply, result, abort, close, circuits, clock ticks, orderly close), then link loss. After
 * every step and at the end it checks what must always hold:
 * <ul>
 *   <li>nothing throws out of the receive path or the tick (API misuse may throw
 *       {@link IllegalStateException}, as documented, and nothing else);</li>
 *   <li>no handler gets anything after its final (DELETE) message, and after link loss every
 *       transaction's handler has had exactly one final;</li>
 *   <li>every REPLY we send answers a transaction the peer opened with CREATE on that circuit —
 *       never a reply to a one-way message (docs/PROFILE.md §2);</li>
 *   <li>both tables end empty and every received message has been released.</li>
 * </ul>
 * {@link #fuzz} runs under Jazzer ({@code JAZZER_FUZZ=1 mvn test -pl dmsg-link
 * -Dtest=ReceiveFuzzTest#fuzz}; regression inputs in the normal suite); {@link #randomRuns}
 * drives the same body from a seeded PRNG so that the normal suite explores it too.
 */
class ReceiveFuzzTest {

    /** The choices the body makes; Jazzer's data or a PRNG. */
    interface Input {
        int pick(int bound);

        boolean remaining();

        default boolean chance(int percent) {
            return pick(100) < percent;
        }
    }

    @FuzzTest(maxDuration = "90s") // under the suite's 120 s JUnit timeout
    void fuzz(FuzzedDataProvider data) {
        run(new Input() {
            @Override
            public int pick(int bound) {
                return data.consumeInt(0, bound - 1);
            }

            @Override
            public boolean remaining() {
                return data.remainingBytes() > 0;
            }
        });
    }

    @Test
    void randomRuns() {
        long seed = Long.getLong("fuzz.seed", System.nanoTime());
        System.out.println("ReceiveFuzzTest seed=" + seed + " (rerun with -Dfuzz.seed=" + seed + ")");
        SplittableRandom seeds = new SplittableRandom(seed);
        transactions = openAtLoss = remoteOpened = 0;
        for (int i = 0; i < 3_000; i++) {
            SplittableRandom r = seeds.split();
            int steps = 1 + r.nextInt(200);
            int[] left = {steps};
            run(new Input() {
                @Override
                public int pick(int bound) {
                    left[0]--;
                    return r.nextInt(bound);
                }

                @Override
                public boolean remaining() {
                    return left[0] > 0;
                }
            });
        }
        System.out.printf("ReceiveFuzzTest: %d transactions (%d opened by the peer), %d open at link loss%n",
            transactions, remoteOpened, openAtLoss);
        assertThat(remoteOpened).isGreaterThan(1_000);
        assertThat(openAtLoss).isGreaterThan(1_000);
    }

    private static final int[] COMMANDS = {
        ECHO, OPAQUE, Dmsg.LNK_ERROR, Dmsg.LNK_PING, Dmsg.LNK_PAD, Dmsg.LNK_CONN, Dmsg.LNK_CIRC, Dmsg.DBG_SHELL, 0x00123401,
    };
    private static final long[] CIRCUITS = {0, 0x77, 0x99};

    /** One transaction as its handler sees it. */
    static final class Watched {
        final String name;
        Transaction txn;
        /** Seen fully closed (both directions) at some point: nothing may arrive after that. */
        boolean closed;
        int afterClosed;
        /** Messages delivered while the link was being failed. */
        int lostlinks;
        boolean openAtLoss;

        Watched(String name) {
            this.name = name;
        }

        void observe() {
            if (txn != null && txn.state().isClosed()) {
                closed = true;
            }
        }
    }

    /** What the runs reached, so that a generator that stops reaching anything fails the test. */
    static long transactions;
    static long openAtLoss;
    static long remoteOpened;

    /** Set while {@code fail()} runs: what handlers get then is the simulated link-loss abort. */
    private static boolean failing;

    static void run(Input in) {
        List<Watched> watched = new ArrayList<>();
        List<Message> inputs = new ArrayList<>();
        Set<String> peerCreated = new HashSet<>();
        try (LinkScript s = new LinkScript()) {
            s.services.accept(ECHO, (txn, create) -> {
                Watched w = new Watched("remote " + Long.toHexString(txn.msgid()));
                w.txn = txn;
                watched.add(w);
                return handler(w, in);
            });
            s.services.oneWay(Dmsg.DBG_SHELL, (link, m) -> { });
            if (in.chance(90)) {
                s.up(); // the peer's LNK_CONN and the answer to ours
                peerCreated.add(key(0x7777, 0));
            } else {
                s.link.start(); // still OPENING: the peer's traffic before its LNK_CONN
                s.transport.runPending();
            }

            long[] relayed = {0};
            s.link.circuits().relay(0x99, (from, m) -> { // a circuit passing through: handed on, untracked
                relayed[0]++;
                m.release();
            });
            boolean attached = false;
            while (in.remaining()) {
                int what = in.pick(100);
                if (what < 55) {
                    Message m = randomMessage(in, watched);
                    inputs.add(m.retain());
                    if (m.isCreate() && !m.isReply()) {
                        peerCreated.add(key(m.msgid(), m.circuit()));
                    }
                    s.link.receive(m);
                    if (in.chance(50)) {
                        s.link.readComplete();
                    }
                } else if (what < 75) {
                    local(s, in, watched);
                } else if (what < 85) {
                    s.clock.advanceMillis(in.pick(4) * 700L);
                    s.link.tick(s.clock.nanoTime());
                } else if (what < 90) {
                    if (attached) {
                        s.link.circuits().detach(0x77);
                        attached = false;
                    } else if (s.link.state() != LinkState.CLOSED) {
                        s.link.circuits().attach(0x77);
                        attached = true;
                    }
                } else if (what < 92) {
                    s.link.close();
                } else {
                    s.transport.runPending();
                }
                checkOutput(s, peerCreated);
                watched.forEach(Watched::observe);
                assertThat(watched).allSatisfy(w ->
                    assertThat(w.afterClosed).as("%s: messages after it closed", w.name).isZero());
            }

            watched.forEach(w -> {
                w.observe();
                w.openAtLoss = !w.closed;
            });
            failing = true;
            try {
                s.link.fail("fuzz: link lost");
            } finally {
                failing = false;
            }
            s.transport.runPending();
            checkOutput(s, peerCreated);
            watched.forEach(Watched::observe);
            assertThat(watched).allSatisfy(w -> {
                assertThat(w.lostlinks).as("%s: link-loss aborts (open at loss: %s)", w.name, w.openAtLoss)
                    .isEqualTo(w.openAtLoss ? 1 : 0);
                assertThat(w.afterClosed).as("%s: messages after it closed", w.name).isZero();
                assertThat(w.closed).as("%s: closed after link loss", w.name).isTrue();
            });
            transactions += watched.size();
            openAtLoss += watched.stream().filter(w -> w.openAtLoss).count();
            remoteOpened += watched.stream().filter(w -> !w.txn.openedLocally()).count();
            assertThat(s.link.stats().openTransactions()).isZero();
            assertThat(s.link.state()).isEqualTo(LinkState.CLOSED);
        } finally {
            for (Message m : inputs) {
                assertThat(m.refCnt()).as("received message %08x released by the link", m.cmd()).isEqualTo(1);
                m.release();
            }
        }
    }

    private static String key(long msgid, long circuit) {
        return msgid + "@" + circuit;
    }

    /** Every REPLY we send answers something the peer opened with CREATE on that circuit. */
    private static void checkOutput(LinkScript s, Set<String> peerCreated) {
        for (Message m : s.out()) {
            if (m.isReply()) {
                assertThat(peerCreated).as("REPLY %08x msgid %x circuit %x answers a CREATE of the peer",
                    m.cmd(), m.msgid(), m.circuit()).contains(key(m.msgid(), m.circuit()));
            }
        }
    }

    private static TransactionHandler handler(Watched w, Input in) {
        return (txn, m) -> {
            if (w.txn == null) {
                w.txn = txn; // open() on a dead link calls back before it returns
            }
            if (w.closed) {
                w.afterClosed++;
            }
            if (failing) {
                w.lostlinks++;
                assertThat(m.error()).isEqualTo(Dmsg.ERR_LOSTLINK);
                assertThat(m.isAbort() && m.isDelete()).isTrue();
            }
            if (m.isDelete()) {
                return;
            }
            // Handlers act from inside the callback too, as real services do.
            switch (in.pick(6)) {
                case 0 -> txn.reply(0);
                case 1 -> txn.result(Dmsg.ERR_NOSUPP);
                case 2 -> txn.abortClose();
                case 3 -> sendQuietly(txn, 0);
                default -> { }
            }
        };
    }

    private static void local(LinkScript s, Input in, List<Watched> watched) {
        if (watched.isEmpty() || in.chance(30)) {
            Watched w = new Watched("local #" + watched.size());
            watched.add(w);
            int flags = new int[] {0, DELETE, ABORT, ABORT | DELETE}[in.pick(4)];
            w.txn = s.link.open((in.chance(50) ? ECHO : OPAQUE) | flags, handler(w, in));
            return;
        }
        Transaction t = watched.get(in.pick(watched.size())).txn;
        switch (in.pick(7)) {
            case 0 -> sendQuietly(t, 0);
            case 1 -> sendQuietly(t, DELETE);
            case 2 -> sendQuietly(t, ABORT);
            case 3 -> t.reply(in.chance(50) ? 0 : Dmsg.ERR_NOSUPP);
            case 4 -> t.result(0);
            case 5 -> t.abort();
            default -> t.abortClose();
        }
    }

    /** A send after our DELETE is API misuse: documented to throw IllegalStateException. */
    private static void sendQuietly(Transaction t, int flags) {
        try {
            t.send(ECHO | flags, null, null);
        } catch (IllegalStateException expected) {
            assertThat(!t.state().sendOpen()).as("send refused only once our direction is closed").isTrue();
        }
    }

    private static Message randomMessage(Input in, List<Watched> watched) {
        if (in.chance(20)) { // a well-formed new request from the peer, so that services get traffic
            long msgid = 0x100 + watched.size() + in.pick(4);
            return Message.of(ECHO | CREATE | (in.chance(20) ? DELETE : 0), msgid, in.chance(80) ? 0 : 0x77, 0);
        }
        int cmd = COMMANDS[in.pick(COMMANDS.length)];
        cmd |= (in.chance(40) ? CREATE : 0) | (in.chance(40) ? DELETE : 0)
            | (in.chance(40) ? REPLY : 0) | (in.chance(15) ? ABORT : 0);
        long msgid;
        int pick = in.pick(10);
        if (pick < 4 && !watched.isEmpty()) {
            msgid = watched.get(in.pick(watched.size())).txn.msgid();
        } else {
            msgid = pick % 4;
        }
        long circuit = CIRCUITS[in.pick(CIRCUITS.length)];
        int error = in.chance(80) ? 0 : in.pick(0x40);
        var aux = in.chance(20) ? Unpooled.buffer(8).writeLong(msgid) : null;
        int base = cmd & Dmsg.BASECMDMASK;
        ExtHeader ext = base == Dmsg.LNK_CONN ? LinkScript.conn()
            : base == Dmsg.LNK_CIRC ? new LnkCirc(0, msgid) : null;
        return Message.of(cmd, msgid, circuit, error, ext, aux);
    }
}
