package dev.dmsg.link;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.testkit.FakeClock;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.Message;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * A scripted peer for one {@link Iocom}: {@code in(...)} delivers a message as if the peer sent it,
 * {@code out()} returns what the link sent since. Handlers registered through {@link #recorder}
 * keep every message they receive (retained; released by {@link #close}).
 *
 * <p>Exported in dmsg-link's test-jar so mesh and services tests can script a peer too; this
 * package's tests reach the fields directly, others through the accessors.
 */
public final class LinkScript implements AutoCloseable {
    public static final int ECHO = 0x0010fe01;
    public static final int OPAQUE = 0x0010fd01;

    final FakeClock clock = new FakeClock();
    final TestTransport transport = new TestTransport();
    final Services services = new Services();
    final List<String> events = new ArrayList<>();
    final List<Message> kept = new ArrayList<>();
    final Iocom link;

    public LinkScript() {
        this(b -> b);
    }

    public LinkScript(UnaryOperator<LinkConfig.Builder> config) {
        LinkConfig cfg = config.apply(LinkConfig.builder().label("us").clock(clock)).build();
        link = new Iocom(cfg, services, new LinkListener() {
            @Override
            public void onUp(Link l) {
                events.add("up");
            }

            @Override
            public void onConnResult(Link l, int error) {
                events.add("conn-result " + error);
            }

            @Override
            public void onDown(Link l, String reason, int aborted) {
                events.add("down " + reason + " aborted=" + aborted);
            }
        }, transport);
    }

    /** Starts the link and brings it UP with the peer's LNK_CONN; drops the frames that took. */
    public LinkScript up() {
        link.start();
        in(Dmsg.LNK_CONN | Dmsg.CREATE, 0x7777, LinkConfig.defaultConn("peer"));
        in(Dmsg.LNK_ERROR | Dmsg.CREATE | Dmsg.REPLY, ourConnMsgid(), 0);
        transport.runPending();
        assertThat(link.state()).isEqualTo(LinkState.UP);
        out();
        return this;
    }

    public long ourConnMsgid() {
        return Stream.concat(kept.stream(), transport.written.stream())
            .filter(m -> m.baseCmd() == Dmsg.LNK_CONN && m.isCreate() && !m.isReply()).findFirst()
            .map(Message::msgid).orElseGet(() -> {
                throw new AssertionError("no LNK_CONN sent");
            });
    }

    /** The peer sends {@code cmd} (flags included) on circuit 0. */
    public void in(int cmd, long msgid, int error) {
        in(cmd, msgid, 0, error, null);
    }

    public void in(int cmd, long msgid, ExtHeader ext) {
        in(cmd, msgid, 0, 0, ext);
    }

    public void in(int cmd, long msgid, long circuit, int error, ExtHeader ext) {
        in(Message.of(cmd, msgid, circuit, error, ext, null));
    }

    /** The peer sends {@code m} (aux and all; the link owns it from now on). */
    public void in(Message m) {
        link.receive(m);
        link.readComplete();
    }

    /** The connection dies under the link ({@code why}: as the transport would say). */
    public void lose(String why) {
        link.transportClosed(why);
        transport.runPending();
    }

    /** What the link sent since the last call (retained until close). */
    public List<Message> out() {
        transport.runPending();
        List<Message> out = transport.take();
        kept.addAll(out);
        return out;
    }

    /** A handler that records "label: <frame>" for each message, and keeps the message. */
    public TransactionHandler recorder(String label, List<String> into) {
        return (t, m) -> {
            into.add(label + ": " + describe(m));
            kept.add(m.retain());
        };
    }

    public static String describe(Message m) {
        return String.format("%08x err=%x", m.cmd(), m.error());
    }

    public static LnkConn conn() {
        return LinkConfig.defaultConn("peer");
    }

    public Iocom link() {
        return link;
    }

    public FakeClock clock() {
        return clock;
    }

    public Services services() {
        return services;
    }

    public TestTransport transport() {
        return transport;
    }

    /** "up", "conn-result N", "down REASON aborted=N", in order. */
    public List<String> events() {
        return events;
    }

    @Override
    public void close() {
        transport.release();
        kept.forEach(Message::release);
        kept.clear();
    }
}
