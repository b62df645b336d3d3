package dev.dmsg.services.legacy;

import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.DmsgProtocolException;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.LnkCirc;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.Message;
import dev.dmsg.wire.PeerType;
import dev.dmsg.wire.PfsType;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A 2013 libdmsg node ({@code hammer2 service}) acting as a relay, scripted from the reference, for
 * interoperability tests: it does on the wire what the C code did, and nothing of ours. It uses
 * only our pure codec ({@code dev.dmsg.wire}) for bytes — none of our transaction engine, links or
 * mesh. Sources: docs/REFERENCE.md §1 (wire), §2.3–2.7 (transactions, reply helpers, link loss), §3.1–3.5
 * (set-up, LNK_CONN/LNK_SPAN contents, the SPAN relay, LNK_CIRC), and libdmsg {@code msg_lnk.c}
 * ({@code dmsg_lnk_conn}, {@code dmsg_lnk_span}, {@code dmsg_lnk_circ}, {@code dmsg_lnk_relay},
 * {@code dmsg_relay_scan_specific}, {@code dmsg_generate_relay}, {@code dmsg_circuit_route}) and
 * {@code service.c} ({@code master_auth_signal}, {@code master_auth_conn_rx}).
 *
 * <p><b>Reproduced</b>, as C did it:
 * <ul>
 *   <li>§3.1: on every connection (accepted or dialled) its LNK_CONN|CREATE goes first, with the
 *       libdmsg contents of §3.2 (CLUSTER, pfs_type NONE, all-ones masks, empty labels,
 *       proto_version 0, every reserved field 0); the peer's LNK_CONN is answered
 *       {@code msg_result(0)} and stays open. It never sends PING, PAD or AUTH, and answers a
 *       received one (or any LNK command but CONN/SPAN/CIRC, or another protocol) with
 *       {@code msg_reply(NOSUPP)} (§2.6) — one-way to a one-way PING.</li>
 *   <li>§2.3/§2.5: two state tables per connection (staterd/statewr), the receive table, the
 *       reply helpers' exact flags; a state is freed once DELETE went both ways.</li>
 *   <li>§3.4: the span database (cluster → node → link, links by dist, rnss), a full rescan after
 *       every change, at most ONE link relayed per node per conn ({@code maxcount = 2} with the
 *       pre-increment), a failed filter stops the node's scan ({@code break}), MAXDIST 16, split
 *       horizon, the CONN filters, dist + 1 and rnss + a per-process random R. A relayed span is a
 *       struct copy of the received one ({@link SpanCopy#C_STRUCT_COPY}), so reserved fields ride
 *       through unread; it never interprets them, never originates any, and ignores mid-stream
 *       LNK_SPAN (span updates or seqno requests) as {@code dmsg_lnk_span}/{@code dmsg_lnk_relay} do.</li>
 *   <li>§3.5: LNK_CIRC exactly as {@code dmsg_lnk_circ}: target looked up among the SPANs this relay
 *       sent on the connection the CIRC came from, else CANTCIRC; a new LNK_CIRC toward the span's
 *       source with target = the msgid of the SPAN that source sent; the pair linked, no reply until
 *       the far side's CREATE|REPLY, then {@code state_result}; DELETE on either side propagated
 *       with {@code state_reply} and the same error; the pair unlinked once each side is closed
 *       (circuit refcounts as C kept them). Circuit traffic is forwarded untracked
 *       ({@code dmsg_circuit_route}): only the circuit id replaced, salt and hdr_crc made anew by
 *       the encoder, msgid/flags/error/aux untouched.</li>
 *   <li>§2.7: on EOF or a socket error, one simulated received message per open circuit-0 state
 *       (LNK_ERROR|ABORT|DELETE for the peer's, +REPLY (+CREATE) for ours) carrying the LOCAL
 *       error code (EOF 2, SOCK 3 …), through the normal handlers; so a circuit's other side is
 *       closed with that local code, which thereby leaks onto the wire (§2.7 "Leakage").</li>
 * </ul>
 *
 * <p><b>Deliberately not reproduced</b> (each a C crash or a hang; drop-and-count instead, so the
 * fixture itself never falls over — see {@link Stats#cBugsAvoided()} and the other counters):
 * asserts on protocol violations (§2.3: libdmsg TRANS fatal + assert), the assert on an unknown
 * circuit id and the NULL dereference on a detached one ({@code dmsg_circuit_route}), the NULL
 * {@code relay} dereference for a half-closed target span ({@code dmsg_lnk_circ}), the
 * circuit-tree collision assert, the 100 ms sleep-and-retry in the link-loss loop (§2.7: states
 * whose receive side is closed but whose transmit side is not are left to be closed by later
 * events, and counted), and fatal framing errors abort only the connection (libdmsg also
 * asserted on a bad hdr_crc). Not modelled at all: crypto (§5; as with a {@code .none} file),
 * media/VOLCONF (§3.6), the node callbacks. The DBG shell is {@link LegacyCShell}.
 *
 * <p><b>Strict</b> (docs/LEGACY.md): every input the real code would not have survived — each
 * place above, a §2.3 violation, an unknown circuit, a framing error, CREATE|DELETE toward it as
 * responder (the double free), a one-way REPLY answering nothing it sent — and everything a 2013
 * peer must never be sent (PING, PAD, AUTH and our LNK commands, span updates, seqno requests) is
 * recorded; {@link #close} then throws, naming each, so the test that sent it fails.
 * {@link #crashInputs} shows them earlier; {@link #tolerateCrashInputs} is for a test that sends
 * such input on purpose.
 *
 * <p><b>Threads</b>: one reader and one writer thread per connection. All relay state (the span
 * database, every connection's state tables and circuits) is guarded by one lock, as libdmsg's
 * {@code cluster_mtx}. Decisions are made under the lock; messages are queued to a connection's
 * writer, which assigns the salt sequence as it writes (docs/REFERENCE.md §1.8). No I/O under the lock.
 */
public final class LegacyCRelay implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger("legacy-c-relay");

    /** libdmsg local errors (docs/REFERENCE.md §2.8) that a link loss carries. */
    public static final int IOQ_ERROR_SYNC = 1;
    public static final int IOQ_ERROR_EOF = 2;
    public static final int IOQ_ERROR_SOCK = 3;
    public static final int IOQ_ERROR_FIELD = 4;
    public static final int IOQ_ERROR_XCRC = 6;
    public static final int IOQ_ERROR_ACRC = 7;
    public static final int IOQ_ERROR_MSGSEQ = 15;

    /** {@code int maxcount = 2} with {@code if (++count >= maxcount) break}: one link per node. */
    private static final int MAXCOUNT = 2;

    /** How a relayed LNK_SPAN is built from the received one. */
    public enum SpanCopy {
        /**
         * libdmsg {@code dmsg_generate_relay}: {@code msg->any.lnk_span = slink->state->msg->any.lnk_span},
         * then dist + 1 and rnss + R — every other byte, reserved fields included, copied unread.
         */
        C_STRUCT_COPY,
        /** Reserved fields zeroed: a relay that passes on nothing it does not know. */
        ZERO_RESERVED
    }

    /** Counters; a snapshot. */
    public record Stats(
            /** Messages forwarded on circuits (dmsg_circuit_route). */
            long forwarded,
            /** LNK_CIRC refused with LNK_ERROR|CREATE|DELETE|REPLY CANTCIRC. */
            long cantcircSent,
            /** msg_reply(NOSUPP) sent (one-way to a one-way message, e.g. our PING). */
            long nosuppSent,
            long pingsReceived,
            long spansReceived,
            long relaysOpened,
            long relaysDeleted,
            /** Circuit pairs made (a LNK_CIRC accepted and one opened toward the span's source). */
            long circuitsForged,
            /** Mid-stream LNK_SPAN (span updates, seqno requests): C ignores them. */
            long extensionMessages,
            /** Received LNK_CONN/LNK_SPAN whose reserved02 is not zero: C never reads it. */
            long reservedFieldsSeen,
            /** Circuit messages for an unknown circuit id (C: assert(circ)), dropped. */
            long unknownCircuit,
            /** Places where C dereferenced NULL or asserted; the fixture dropped and went on. */
            long cBugsAvoided,
            /** §2.3 violations (libdmsg: TRANS, fatal + assert), dropped. */
            long violations,
            /** ABORTs for unknown or closed msgids, discarded silently (§2.3). */
            long abortsDiscarded,
            /** Messages queued for a dead connection, discarded. */
            long sendsDiscarded,
            long framingErrors,
            /** States left with rx closed and tx open after a link-loss pass (C's 100 ms retry loop). */
            long teardownStalls) {}

    // Counters: under the lock.
    private long forwarded;
    private long cantcircSent;
    private long nosuppSent;
    private long pingsReceived;
    private long spansReceived;
    private long relaysOpened;
    private long relaysDeleted;
    private long circuitsForged;
    private long extensionMessages;
    private long reservedFieldsSeen;
    private long unknownCircuit;
    private long cBugsAvoided;
    private long violations;
    private long abortsDiscarded;
    private long sendsDiscarded;
    private long framingErrors;
    private long teardownStalls;

    private final Object lock = new Object();
    private final CrashLedger crashes = new CrashLedger();
    private final LegacyCShell shell = new LegacyCShell(this);
    private final SpanCopy spanCopy;
    private final ServerSocket server;
    private final Thread acceptor;
    private final BlockingQueue<Connection> accepted = new LinkedBlockingQueue<>();
    private final List<Connection> connections = new ArrayList<>();
    /** DMsgRNSS: a per-process random, non-zero u32 added to rnss on relay. */
    private final int rnss = ThreadLocalRandom.current().nextInt() | 1;
    /** msgids look like the userland state addresses libdmsg used (0x0000000800…); never reused. */
    private long nextMsgid = 0x0000000801000000L + (ThreadLocalRandom.current().nextInt(1 << 16) << 8);
    private int nextFd = 3;
    private volatile boolean closed;

    // The span database (msg_lnk.c): global, under the lock.
    private final TreeMap<NodeKeyC, SNode> nodes = new TreeMap<>();
    /** connq: conns whose LNK_CONN we received, in arrival order. */
    private final List<H2Conn> connq = new ArrayList<>();
    private long linkSeq;

    /** A relay on 127.0.0.1 with an ephemeral port, relaying spans as C did. */
    public LegacyCRelay() throws IOException {
        this(SpanCopy.C_STRUCT_COPY);
    }

    public LegacyCRelay(SpanCopy spanCopy) throws IOException {
        this.spanCopy = spanCopy;
        this.server = new ServerSocket();
        server.setReuseAddress(true); // as hammer2 service: SO_REUSEADDR, backlog 50
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        this.acceptor = new Thread(this::acceptLoop, "c-relay-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Dials {@code host:port} and runs a session on it, as {@code dmsg_connect} + a service thread. */
    public Connection connect(String host, int port) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress(host, port), 5000);
        return start(s);
    }

    /** The next connection accepted, waiting up to {@code wait}. */
    public Connection takeAccepted(Duration wait) throws InterruptedException {
        Connection c = accepted.poll(wait.toNanos(), TimeUnit.NANOSECONDS);
        if (c == null) {
            throw new AssertionError("no connection accepted within " + wait);
        }
        return c;
    }

    /**
     * Cuts a connection abruptly (RST), as a network failure would: the reader sees the socket
     * closed and runs the link-loss pass with EOF, as libdmsg does when its stop pipe sets EOF.
     * {@link Connection#lost()} completes when that pass is done.
     */
    public void cut(Connection c) {
        c.cutHere = true;
        try {
            c.socket.setSoLinger(true, 0);
            c.socket.close();
        } catch (IOException e) {
            log.debug("cut fd {}: {}", c.fd, e.toString());
        }
    }

    public Stats stats() {
        synchronized (lock) {
            return new Stats(forwarded, cantcircSent, nosuppSent, pingsReceived, spansReceived, relaysOpened,
                relaysDeleted, circuitsForged, extensionMessages, reservedFieldsSeen, unknownCircuit, cBugsAvoided,
                violations, abortsDiscarded, sendsDiscarded, framingErrors, teardownStalls);
        }
    }

    /** DBG_SHELL commands its shell ran ({@link LegacyCShell}). */
    public long shellCommands() {
        synchronized (lock) {
            return shell.commands();
        }
    }

    /** Circuit objects in every connection's circuit tree (a relayed circuit is two: circA and circB). */
    public int circuitCount() {
        synchronized (lock) {
            int n = 0;
            for (Connection c : connections) {
                n += c.circuits.size();
            }
            return n;
        }
    }

    /** Open circuit-0 states (both tables) on {@code c}. */
    public int openStates(Connection c) {
        synchronized (lock) {
            return c.staterd.size() + c.statewr.size();
        }
    }

    /** The span database as {@code hammer2 shell}'s {@code tree} printed it (docs/REFERENCE.md §7.3). */
    public String tree() {
        synchronized (lock) {
            StringBuilder b = new StringBuilder();
            NodeKeyC cluster = null;
            for (SNode n : nodes.values()) {
                if (cluster == null || cluster.compareCluster(n.key) != 0) {
                    cluster = n.key;
                    b.append(String.format("Cluster %s %s (%s)%n", PeerType.nameOf(n.key.peerType), n.key.pfsClid,
                        n.key.clLabel));
                }
                b.append(String.format("    Node %s %s (%s)%n", PfsType.nameOf(n.pfsType), n.key.pfsFsid, n.key.fsLabel));
                for (SLink l : n.links) {
                    b.append(String.format("\tSLink msgid %016x dist=%d via %d%n", l.state.msgid,
                        Integer.toUnsignedLong(l.dist), l.state.conn.fd));
                    for (Relay r : l.relayq) {
                        b.append(String.format("\t    Relay-out msgid %016x via %d%n", r.target == null ? 0 : r.target.msgid,
                            r.conn.state.conn.fd));
                    }
                }
            }
            return b.toString();
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            log.debug("closing the listener: {}", e.toString());
        }
        List<Connection> all;
        synchronized (lock) {
            all = new ArrayList<>(connections);
        }
        for (Connection c : all) {
            cut(c);
        }
        for (Connection c : all) {
            try {
                if (c.reader != null) {
                    c.reader.join(5000);
                }
                if (c.writer != null) {
                    c.writer.join(5000);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        try {
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        crashes.check("the scripted 2013 peer");
    }

    /**
     * What it received that the real C code asserts or crashes on, or must never be sent (see
     * {@link CrashLedger}); {@link #close} fails the test when this is not empty.
     */
    public List<String> crashInputs() {
        return crashes.entries();
    }

    /** For a test that sends such input on purpose: {@link #close} then does not fail it. */
    public void tolerateCrashInputs() {
        crashes.tolerate();
    }

    // ------------------------------------------------------------------------------------------
    // Connections (libdmsg: one iocom per connection)

    /** One connection (a libdmsg iocom); its tables are touched under the relay's lock only. */
    public final class Connection {
        /** A small number standing in for the C socket fd, for logs and {@link #tree()}. */
        final int fd;
        final Socket socket;
        final LinkedBlockingQueue<Message> out = new LinkedBlockingQueue<>();
        /** circuit0.staterd_tree: transactions the peer opened (found by messages without REPLY). */
        final Map<Long, State> staterd = new LinkedHashMap<>();
        /** circuit0.statewr_tree: transactions we opened (found by messages with REPLY). */
        final Map<Long, State> statewr = new LinkedHashMap<>();
        /** iocom->circuit_tree: circuit ids on this connection, both the peer's and ours. */
        final Map<Long, Circ> circuits = new HashMap<>();
        /** iocom->conn: the span conn made by the peer's LNK_CONN ("XXX only one"). */
        H2Conn h2conn;
        State ourConn;
        boolean dead;
        volatile boolean cutHere;
        final CompletableFuture<Integer> lost = new CompletableFuture<>();
        volatile Thread reader;
        volatile Thread writer;

        Connection(int fd, Socket socket) {
            this.fd = fd;
            this.socket = socket;
        }

        public int fd() {
            return fd;
        }

        public String remoteAddress() {
            return socket.getRemoteSocketAddress().toString();
        }

        /** Completes with the local error code (EOF 2, SOCK 3 …) once the link-loss pass has run. */
        public CompletableFuture<Integer> lost() {
            return lost;
        }

        /** The msgid of the LNK_CONN this relay sent on this connection. */
        public long connMsgid() {
            synchronized (lock) {
                return ourConn.msgid;
            }
        }

        /** msgids of the LNK_SPAN transactions this relay has open on this connection (its relays). */
        public List<Long> spansSent() {
            synchronized (lock) {
                List<Long> ids = new ArrayList<>();
                for (State s : statewr.values()) {
                    if (s.icmd == Dmsg.LNK_SPAN && (s.txcmd & Dmsg.DELETE) == 0) {
                        ids.add(s.msgid);
                    }
                }
                return ids;
            }
        }

        @Override
        public String toString() {
            return "fd " + fd + " " + socket.getRemoteSocketAddress();
        }
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket s = server.accept();
                accepted.add(start(s));
            } catch (IOException e) {
                if (!closed) {
                    log.warn("accept: {}", e.toString());
                }
                return;
            }
        }
    }

    private Connection start(Socket s) throws IOException {
        s.setTcpNoDelay(true);
        Connection c;
        synchronized (lock) {
            c = new Connection(nextFd++, s);
            connections.add(c);
            // service.c master_auth_signal: LNK_CONN|CREATE first, without waiting for anything;
            // its reply handler (master_auth_conn_rx) only answers a DELETE.
            UUID nil = new UUID(0, 0);
            LnkConn conn = new LnkConn(nil, nil, nil, -1L, Dmsg.PEER_CLUSTER, Dmsg.PFSTYPE_NONE, 0, 0, 0, 0L, -1L,
                "", "");
            c.ourConn = newLocalState(c, Dmsg.LNK_CONN, this::ourConnRx);
            send(c.ourConn, Message.of(Dmsg.LNK_CONN | Dmsg.CREATE, c.ourConn.msgid, 0, 0, conn, null));
        }
        OutputStream os = s.getOutputStream();
        InputStream is = s.getInputStream();
        c.writer = new Thread(() -> writeLoop(c, os), "c-relay-wr-" + c.fd);
        c.reader = new Thread(() -> readLoop(c, is), "c-relay-rd-" + c.fd);
        c.writer.setDaemon(true);
        c.reader.setDaemon(true);
        c.writer.start();
        c.reader.start();
        log.info("fd {}: session with {}", c.fd, s.getRemoteSocketAddress());
        return c;
    }

    private static final Message POISON = Message.of(Dmsg.LNK_PAD, 0, 0, 0);

    /** The writer: assigns the salt sequence as it writes (docs/REFERENCE.md §1.8), batches what is queued. */
    private void writeLoop(Connection c, OutputStream os) {
        FrameEncoder enc = new FrameEncoder();
        List<Message> batch = new ArrayList<>();
        try {
            while (true) {
                batch.add(c.out.take());
                c.out.drainTo(batch, 64);
                ByteBuf b = Unpooled.buffer();
                boolean stop = false;
                try {
                    for (Message m : batch) {
                        if (m == POISON) {
                            stop = true;
                            break;
                        }
                        enc.encode(m, b);
                    }
                    b.getBytes(b.readerIndex(), os, b.readableBytes());
                    os.flush();
                } finally {
                    b.release();
                    batch.forEach(Message::release);
                    batch.clear();
                }
                if (stop) {
                    return;
                }
            }
        } catch (IOException e) {
            log.debug("fd {}: write: {}", c.fd, e.toString());
            try {
                c.socket.close(); // the reader sees it and runs the link-loss pass
            } catch (IOException ignored) {
                // closing
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            Message m;
            while ((m = c.out.poll()) != null) {
                m.release();
            }
        }
    }

    /** The reader: frames in, one message at a time through the state machine under the lock. */
    private void readLoop(Connection c, InputStream is) {
        FrameDecoder dec = new FrameDecoder();
        ByteBuf acc = Unpooled.buffer(0);
        byte[] buf = new byte[16384];
        int error = IOQ_ERROR_EOF;
        try {
            while (true) {
                int n = is.read(buf);
                if (n < 0) {
                    error = IOQ_ERROR_EOF;
                    break;
                }
                // A new accumulator per read: decoded aux are slices of the old one, and forwarded
                // messages still hold them on another connection's queue.
                ByteBuf next = Unpooled.buffer(acc.readableBytes() + n);
                next.writeBytes(acc);
                next.writeBytes(buf, 0, n);
                acc.release();
                acc = next;
                Message m;
                while ((m = dec.decode(acc)) != null) {
                    try {
                        synchronized (lock) {
                            rx(c, m);
                        }
                    } catch (RuntimeException e) {
                        // A fixture bug, not C behaviour: counted (tests assert none) and survived.
                        log.error("fd {}: handling {} threw", c.fd, FrameLog.line(FrameLog.RECEIVED, m), e);
                        synchronized (lock) {
                            bug("a fixture bug (the handler threw): " + e);
                        }
                    } finally {
                        m.release();
                    }
                }
            }
        } catch (DmsgProtocolException e) {
            log.warn("fd {}: {} (libdmsg: fatal for the link)", c.fd, e.getMessage());
            error = switch (e.kind()) {
                case BAD_MAGIC -> IOQ_ERROR_SYNC;
                case HDR_SIZE, AUX_SIZE -> IOQ_ERROR_FIELD;
                case HDR_CRC -> IOQ_ERROR_XCRC; // libdmsg then assert(0)s the whole daemon
                case AUX_CRC -> IOQ_ERROR_ACRC;
                case SEQUENCE -> IOQ_ERROR_MSGSEQ;
                case TRUNCATED -> IOQ_ERROR_EOF;
                case BAD_AUX -> IOQ_ERROR_FIELD; // never thrown by the frame decoder: aux is a service's business
            };
            synchronized (lock) {
                framingErrors++;
            }
            crashes.record("fd " + c.fd + ": framing error (" + e.kind() + "; a bad hdr_crc asserts): " + e.getMessage());
        } catch (IOException e) {
            error = c.cutHere ? IOQ_ERROR_EOF : IOQ_ERROR_SOCK;
        } finally {
            acc.release();
        }
        synchronized (lock) {
            linkLost(c, error);
        }
        try {
            c.socket.close();
        } catch (IOException ignored) {
            // closing
        }
        c.out.add(POISON);
        log.info("fd {}: session ended ({}); {}", c.fd, error == IOQ_ERROR_EOF ? "EOF" : "error " + error, stats());
        c.lost.complete(error);
    }

    /** Queues {@code m} for {@code c}'s writer; owned from now on. Under the lock. */
    private void enqueue(Connection c, Message m) {
        if (c.dead) {
            sendsDiscarded++; // libdmsg discards output on a dead iocom
            m.release();
            return;
        }
        if (log.isDebugEnabled()) {
            log.debug("fd {} {}", c.fd, FrameLog.line(FrameLog.SENT, m));
        }
        c.out.add(m);
    }

    // ------------------------------------------------------------------------------------------
    // Transactions (docs/REFERENCE.md §2; libdmsg msg.c dmsg_state_msgrx / cleanuprx / cleanuptx)

    @FunctionalInterface
    private interface Func {
        void rx(State st, Message m);
    }

    /** libdmsg {@code dmsg_state}: one transaction on circuit 0 of one connection. */
    static final class State {
        final Connection conn;
        final long msgid;
        final int icmd;
        /** In statewr: we opened it. */
        final boolean local;
        int txcmd;
        int rxcmd;
        /** state->func; {@code null}: dispatched by protocol (master_link_rxmsg). */
        Func func;
        // state->any
        H2Conn h2conn;
        SLink link;
        Relay relay;
        Circ circ;

        State(Connection conn, long msgid, int icmd, boolean local) {
            this.conn = conn;
            this.msgid = msgid;
            this.icmd = icmd;
            this.local = local;
        }
    }

    /** msg_alloc with CREATE and without REPLY: a state in statewr (docs/REFERENCE.md §2.4). */
    private State newLocalState(Connection c, int icmd, Func func) {
        long msgid = nextMsgid;
        nextMsgid += 0x80;
        State st = new State(c, msgid, icmd, true);
        st.rxcmd = Dmsg.REPLY;
        st.func = func;
        c.statewr.put(msgid, st);
        return st;
    }

    private void free(State st) {
        Map<Long, State> tree = st.local ? st.conn.statewr : st.conn.staterd;
        tree.remove(st.msgid, st);
    }

    /** dmsg_msg_write + cleanuptx: bookkeeping as the message goes out. Under the lock. */
    private void send(State st, Message m) {
        if (m.isCreate()) {
            st.txcmd |= Dmsg.CREATE;
        }
        if (m.isDelete()) {
            st.txcmd |= Dmsg.DELETE;
            if ((st.rxcmd & Dmsg.DELETE) != 0) {
                free(st);
            }
        }
        enqueue(st.conn, m); // on a dead connection: discarded, which still closes the tx side (§2.7)
    }

    /** dmsg_state_reply / dmsg_state_result (docs/REFERENCE.md §2.5). */
    private void stateReply(State st, int error, boolean delete) {
        if ((st.txcmd & Dmsg.DELETE) != 0) {
            return;
        }
        int cmd = Dmsg.LNK_ERROR | (delete ? Dmsg.DELETE : 0);
        if ((st.txcmd & Dmsg.REPLY) != 0) {
            cmd |= Dmsg.REPLY;
        }
        if ((st.txcmd & Dmsg.CREATE) == 0) {
            cmd |= Dmsg.CREATE;
        }
        send(st, Message.of(cmd, st.msgid, 0, error));
    }

    /** dmsg_msg_reply / dmsg_msg_result: through the state, or one-way with REPLY toggled. */
    private void msgReply(Connection c, State st, Message m, int error, boolean delete) {
        if (st != null) {
            stateReply(st, error, delete);
            return;
        }
        int cmd = Dmsg.LNK_ERROR | (m.isReply() ? 0 : Dmsg.REPLY);
        enqueue(c, Message.of(cmd, m.msgid(), m.circuit(), error));
    }

    /** One received message (dmsg_ioq_read → dmsg_state_msgrx → master_link_rxmsg). Under the lock. */
    private void rx(Connection c, Message m) {
        if (c.dead) {
            return;
        }
        if (log.isDebugEnabled()) {
            log.debug("fd {} {}", c.fd, FrameLog.line(FrameLog.RECEIVED, m));
        }
        if (m.circuit() != 0) {
            circuitRoute(c, m); // relay happens before any state processing
            return;
        }
        int cmd = m.cmd();
        boolean reply = (cmd & Dmsg.REPLY) != 0;
        boolean abort = (cmd & Dmsg.ABORT) != 0;
        Map<Long, State> tree = reply ? c.statewr : c.staterd;
        State st = tree.get(m.msgid());
        switch (cmd & (Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY)) {
            case 0:
            case Dmsg.REPLY:
                if (abort && (st == null || (st.rxcmd & Dmsg.CREATE) == 0)) {
                    abortsDiscarded++; // EALREADY
                    return;
                }
                if (reply && st == null) {
                    // This relay sends no one-way message but its own NOSUPP and shell replies, so
                    // a one-way REPLY answers nothing it sent (a 2013 kernel panics on one, §2.5).
                    crashes.record("fd " + c.fd + ": a reply to a one-way message it never sent: "
                        + FrameLog.line(FrameLog.RECEIVED, m));
                }
                break; // one-way (st null), streaming, or one-way inside a transaction
            case Dmsg.CREATE:
            case Dmsg.CREATE | Dmsg.DELETE:
                if ((cmd & Dmsg.DELETE) != 0) {
                    // Opened and closed in one message: the responder's handler replies and
                    // closes, cleanuprx frees the state, and the reply path frees it again.
                    crashes.record("fd " + c.fd + ": CREATE|DELETE toward a libdmsg responder (double free): "
                        + FrameLog.line(FrameLog.RECEIVED, m));
                }
                if (st != null) {
                    violation(c, m, "duplicate transaction");
                    return;
                }
                st = new State(c, m.msgid(), cmd & Dmsg.BASECMDMASK, false);
                st.rxcmd = cmd & ~Dmsg.DELETE;
                st.txcmd = Dmsg.REPLY;
                c.staterd.put(st.msgid, st);
                break;
            case Dmsg.DELETE:
            case Dmsg.REPLY | Dmsg.DELETE:
                if (st == null || (st.rxcmd & Dmsg.CREATE) == 0) {
                    if (abort) {
                        abortsDiscarded++;
                    } else {
                        violation(c, m, "DELETE for no open transaction");
                    }
                    return;
                }
                break;
            case Dmsg.REPLY | Dmsg.CREATE:
            case Dmsg.REPLY | Dmsg.CREATE | Dmsg.DELETE:
                if (st == null) {
                    if (abort) {
                        abortsDiscarded++;
                    } else {
                        violation(c, m, "reply for no transaction of ours");
                    }
                    return;
                }
                st.rxcmd = cmd & ~Dmsg.DELETE;
                break;
            default:
                throw new AssertionError(Integer.toHexString(cmd));
        }
        if ((m.baseCmd() == Dmsg.LNK_CONN || m.baseCmd() == Dmsg.LNK_SPAN) && reserved02(m) != 0) {
            reservedFieldsSeen++; // never read by C (and not by this fixture)
        }
        dispatch(c, st, m);
        cleanupRx(st, m);
    }

    private static long reserved02(Message m) {
        if (m.ext() instanceof LnkConn lc) {
            return lc.reserved02();
        }
        if (m.ext() instanceof LnkSpan ls) {
            return ls.reserved02();
        }
        return 0;
    }

    /** dmsg_state_cleanuprx: a received DELETE closes rx; the state goes once tx is closed too. */
    private void cleanupRx(State st, Message m) {
        if (st != null && m.isDelete()) {
            st.rxcmd |= Dmsg.DELETE;
            if ((st.txcmd & Dmsg.DELETE) != 0) {
                free(st);
            }
        }
    }

    /** A place where C dereferenced NULL or asserted: counted, recorded, survived. Under the lock. */
    private void bug(String what) {
        cBugsAvoided++;
        crashes.record(what);
    }

    private void violation(Connection c, Message m, String what) {
        // libdmsg: DMSG_IOQ_ERROR_TRANS, fatal for the link, and usually assert(0) (§2.3).
        violations++;
        crashes.record("fd " + c.fd + ": " + what + " (TRANS + assert): " + FrameLog.line(FrameLog.RECEIVED, m));
        log.warn("fd {}: {} (C: TRANS + assert; dropped): {}", c.fd, what, FrameLog.line(FrameLog.RECEIVED, m));
    }

    /** master_link_rxmsg, then dmsg_msg_lnk: the state's func, else by protocol of icmd (or cmd). */
    private void dispatch(Connection c, State st, Message m) {
        if (st != null && st.func != null) {
            st.func.rx(st, m);
            return;
        }
        int icmd = st != null ? st.icmd : m.cmd() & Dmsg.BASECMDMASK;
        if ((icmd & Dmsg.PROTOS) == Dmsg.PROTO_LNK) {
            switch (icmd & Dmsg.BASECMDMASK) {
                case Dmsg.LNK_CONN -> lnkConn(st, m);
                case Dmsg.LNK_SPAN -> lnkSpan(st, m);
                case Dmsg.LNK_CIRC -> lnkCirc(st, m);
                default -> {
                    // PAD, PING, AUTH, a stray LNK_ERROR …: all NOSUPP in 2013 (docs/REFERENCE.md §2.6).
                    if ((icmd & Dmsg.BASECMDMASK) == Dmsg.LNK_PING) {
                        pingsReceived++;
                    }
                    if (m.baseCmd() != Dmsg.LNK_ERROR) {
                        // Declared in 2013 but never implemented (PING, PAD, AUTH), or ours (LNK_CRL …).
                        crashes.record("fd " + c.fd + ": " + Command.nameOf(m.cmd())
                            + ", which a 2013 peer does not know: " + FrameLog.line(FrameLog.RECEIVED, m));
                    }
                    nosupp(c, st, m);
                }
            }
            return;
        }
        if ((icmd & Dmsg.BASECMDMASK) == Dmsg.DBG_SHELL) {
            shell.rx(c, st, m); // dmsg_msg_dbg
            return;
        }
        nosupp(c, st, m); // every other protocol: NOSUPP, the 2013 answer, survived
    }

    /** For {@link LegacyCShell}: one-way output, then {@code msg_reply(msg, error)}. Under the lock. */
    void shellReply(Connection c, State st, Message m, List<String> lines, int error) {
        for (String line : lines) {
            enqueue(c, Message.of(Dmsg.DBG_SHELL | Dmsg.REPLY, 0, m.circuit(), 0, null,
                Unpooled.copiedBuffer(line + "\0", StandardCharsets.UTF_8)));
        }
        msgReply(c, st, m, error, true);
    }

    private void nosupp(Connection c, State st, Message m) {
        nosuppSent++;
        msgReply(c, st, m, Dmsg.ERR_NOSUPP, true);
    }

    /** master_auth_conn_rx: replies on our own LNK_CONN; only a DELETE is answered. */
    private void ourConnRx(State st, Message m) {
        if (m.isDelete()) {
            msgReply(st.conn, st, m, 0, true);
        }
    }

    // ------------------------------------------------------------------------------------------
    // LNK_CONN and LNK_SPAN (msg_lnk.c dmsg_lnk_conn, dmsg_lnk_span, dmsg_lnk_relay, relay scan)

    /** Cluster then node key, ordered as h2span_cluster_cmp and h2span_node_cmp. */
    record NodeKeyC(int peerType, UUID pfsClid, String clLabel, String fsLabel, UUID pfsFsid)
            implements Comparable<NodeKeyC> {
        static NodeKeyC of(LnkSpan s) {
            return new NodeKeyC(s.peerType(), s.pfsClid(), s.clLabel(), s.fsLabel(), s.pfsFsid());
        }

        int compareCluster(NodeKeyC o) {
            int r = Integer.compare(peerType, o.peerType);
            if (r == 0) {
                r = uuidCompare(pfsClid, o.pfsClid);
            }
            return r != 0 ? r : clLabel.compareTo(o.clLabel);
        }

        @Override
        public int compareTo(NodeKeyC o) {
            int r = compareCluster(o);
            if (r == 0) {
                r = fsLabel.compareTo(o.fsLabel);
            }
            return r != 0 ? r : uuidCompare(pfsFsid, o.pfsFsid);
        }

        static int uuidCompare(UUID a, UUID b) {
            int r = Long.compareUnsigned(a.getMostSignificantBits(), b.getMostSignificantBits());
            return r != 0 ? r : Long.compareUnsigned(a.getLeastSignificantBits(), b.getLeastSignificantBits());
        }
    }

    /** h2span_node: links sorted by (dist, rnss, then arrival, for C's state address). */
    private final class SNode {
        final NodeKeyC key;
        final int pfsType;
        final TreeSet<SLink> links = new TreeSet<>(Comparator.<SLink>comparingLong(l -> Integer.toUnsignedLong(l.dist))
            .thenComparingLong(l -> Integer.toUnsignedLong(l.rnss)).thenComparingLong(l -> l.seq));

        SNode(NodeKeyC key, int pfsType) {
            this.key = key;
            this.pfsType = pfsType;
        }
    }

    /** h2span_link: one received LNK_SPAN transaction. */
    private static final class SLink {
        final SNode node;
        final State state;
        final LnkSpan span;
        final int dist;
        final int rnss;
        final long seq;
        final List<Relay> relayq = new ArrayList<>();

        SLink(SNode node, State state, LnkSpan span, long seq) {
            this.node = node;
            this.state = state;
            this.span = span;
            this.dist = span.dist();
            this.rnss = span.rnss();
            this.seq = seq;
        }
    }

    /** h2span_conn: a connection whose LNK_CONN we received; its relays sorted like the node's links. */
    private static final class H2Conn {
        final State state;
        final LnkConn filter;
        final TreeSet<Relay> tree = new TreeSet<>(Comparator.<Relay, NodeKeyC>comparing(r -> r.source.node.key)
            .thenComparingLong(r -> Integer.toUnsignedLong(r.source.dist))
            .thenComparingLong(r -> Integer.toUnsignedLong(r.source.rnss))
            .thenComparingLong(r -> r.source.seq));

        H2Conn(State state, LnkConn filter) {
            this.state = state;
            this.filter = filter;
        }
    }

    /** h2span_relay: a LNK_SPAN we opened on a conn, copied from a link. */
    private static final class Relay {
        final H2Conn conn;
        final SLink source;
        State target;

        Relay(H2Conn conn, SLink source) {
            this.conn = conn;
            this.source = source;
        }
    }

    private void lnkConn(State st, Message m) {
        Connection c = st.conn;
        switch (m.cmd() & Dmsg.TRANSMASK) {
            case Dmsg.LNK_CONN | Dmsg.CREATE, Dmsg.LNK_CONN | Dmsg.CREATE | Dmsg.DELETE -> {
                H2Conn h = new H2Conn(st, m.ext(LnkConn.class));
                c.h2conn = h; // XXX only one
                st.func = this::lnkConn;
                st.h2conn = h;
                connq.add(h);
                // (media bookkeeping for VOLCONF, §3.6: not modelled)
                if (!m.isDelete()) {
                    msgReply(c, st, m, 0, false); // msg_result(0): accepted, stays open
                    relayScan();
                    return;
                }
                connTerminated(st, m);
            }
            case Dmsg.LNK_CONN | Dmsg.DELETE, Dmsg.LNK_ERROR | Dmsg.DELETE -> connTerminated(st, m);
            default -> {
                // e.g. LNK_VOLCONF inside the LNK_CONN: the 2013 service's media code, not modelled
            }
        }
    }

    private void connTerminated(State st, Message m) {
        H2Conn h = st.h2conn;
        if (h == null) {
            bug("C: assert(conn)");
            return;
        }
        while (!h.tree.isEmpty()) {
            relayDelete(h.tree.first());
        }
        connq.remove(h);
        st.h2conn = null;
        if (st.conn.h2conn == h) {
            st.conn.h2conn = null;
        }
        msgReply(st.conn, st, m, 0, true);
    }

    private void lnkSpan(State st, Message m) {
        if (m.isReply()) {
            bug("C: assert((cmd & REPLY) == 0)");
            return;
        }
        if (m.isCreate()) {
            st.func = this::lnkSpan;
            LnkSpan span = m.ext(LnkSpan.class); // labels already NUL-terminated by the decoder (dmsg_termstr)
            NodeKeyC key = NodeKeyC.of(span);
            SNode node = nodes.computeIfAbsent(key, k -> new SNode(k, span.pfsType()));
            SLink link = new SLink(node, st, span, linkSeq++);
            st.link = link;
            node.links.add(link);
            spansReceived++;
            relayScan(); // dmsg_iocom_signal → dmsg_relay_scan(NULL, NULL)
        }
        if (m.isDelete()) {
            SLink link = st.link;
            if (link == null) {
                bug("C: assert(slink != NULL)");
                return;
            }
            while (!link.relayq.isEmpty()) {
                relayDelete(link.relayq.get(0));
            }
            SNode node = link.node;
            node.links.remove(link);
            boolean nodeLeft = !node.links.isEmpty();
            if (!nodeLeft) {
                nodes.remove(node.key);
            }
            st.link = null;
            stateReply(st, 0, true);
            if (nodeLeft) {
                relayScan();
            }
        }
        if (!m.isCreate() && !m.isDelete()) {
            extensionMessages++; // a span update: dmsg_lnk_span has no branch for it
            crashes.record("fd " + st.conn.fd + ": a span update (our extension): " + FrameLog.line(FrameLog.RECEIVED, m));
        }
    }

    /** dmsg_lnk_relay: messages on a SPAN we opened (only replies are expected). */
    private void lnkRelay(State st, Message m) {
        if (!m.isReply()) {
            bug("C: assert(cmd & REPLY)");
            return;
        }
        if (m.isDelete()) {
            if (st.relay != null) {
                relayDelete(st.relay);
            } else {
                stateReply(st, 0, true);
            }
        } else {
            // A mid-stream reply (our extension's seqno request): dmsg_lnk_relay does nothing with it.
            extensionMessages++;
            crashes.record("fd " + st.conn.fd + ": a seqno request (our extension): " + FrameLog.line(FrameLog.RECEIVED, m));
        }
    }

    /** dmsg_relay_scan(NULL, NULL): always a full scan, every node against every conn. */
    private void relayScan() {
        for (SNode node : new ArrayList<>(nodes.values())) {
            for (H2Conn conn : new ArrayList<>(connq)) {
                relayScanSpecific(node, conn);
            }
        }
    }

    /** dmsg_relay_scan_specific, line for line. */
    private void relayScanSpecific(SNode node, H2Conn conn) {
        Relay relay = null;
        for (Relay r : conn.tree) {
            if (r.source.node == node) {
                relay = r;
                break;
            }
        }
        int count = 0;
        for (SLink slink : new ArrayList<>(node.links)) {
            if (++count >= MAXCOUNT) {
                break; // "XXX we want to propagate the top two": only the best link gets here
            }
            if (relay != null && relay.source == slink) {
                relay = conn.tree.higher(relay);
                continue;
            }
            if (Integer.compareUnsigned(slink.dist, Dmsg.SPAN_MAXDIST) > 0) {
                break;
            }
            if (slink.state.conn == conn.state.conn) {
                break; // split horizon
            }
            LnkSpan lspan = slink.span;
            LnkConn lconn = conn.filter;
            // (Java shifts mod 64 where C's 1LLU << type is undefined above 63; types are < 10.)
            if (((1L << lspan.peerType()) & lconn.peerMask()) == 0) {
                break;
            }
            if (((1L << lspan.pfsType()) & lconn.pfsMask()) == 0) {
                break;
            }
            if (lconn.pfsType() == Dmsg.PFSTYPE_CLIENT && lspan.pfsType() == Dmsg.PFSTYPE_CLIENT) {
                break;
            }
            if (lspan.peerType() == lconn.peerType() && !isNil(lconn.pfsClid())
                    && !node.key.pfsClid().equals(lconn.pfsClid())) {
                break;
            }
            if (lspan.peerType() == lconn.peerType() && !lconn.clLabel().isEmpty()
                    && !lconn.clLabel().equals(node.key.clLabel())) {
                break;
            }
            relay = generateRelay(conn, slink);
            relay = conn.tree.higher(relay);
        }
        while (relay != null && relay.source.node == node) {
            Relay next = conn.tree.higher(relay);
            relayDelete(relay); // in excess of the current aggregate
            relay = next;
        }
    }

    private static boolean isNil(UUID u) {
        return u.getMostSignificantBits() == 0 && u.getLeastSignificantBits() == 0;
    }

    /** dmsg_generate_relay: a new LNK_SPAN|CREATE on the conn's connection, copied from the link. */
    private Relay generateRelay(H2Conn conn, SLink slink) {
        Relay r = new Relay(conn, slink);
        State st = newLocalState(conn.state.conn, Dmsg.LNK_SPAN, this::lnkRelay);
        st.relay = r;
        r.target = st;
        conn.tree.add(r);
        slink.relayq.add(r);
        LnkSpan src = slink.span;
        if (spanCopy == SpanCopy.ZERO_RESERVED) {
            src = new LnkSpan(src.pfsClid(), src.pfsFsid(), src.pfsType(), src.peerType(), src.protoVersion(),
                src.status(), 0, src.dist(), src.rnss(), src.mediaBytes(), src.mediaBlksize(), src.clLabel(),
                src.fsLabel());
        }
        relaysOpened++;
        send(st, Message.of(Dmsg.LNK_SPAN | Dmsg.CREATE, st.msgid, 0, 0, src.relayed(rnss), null));
        return r;
    }

    /** dmsg_relay_delete: LNK_ERROR|DELETE on the relay's transaction, error 0. */
    private void relayDelete(Relay r) {
        r.conn.tree.remove(r);
        r.source.relayq.remove(r);
        relaysDeleted++;
        if (r.target != null) {
            r.target.relay = null;
            stateReply(r.target, 0, true);
            r.target = null;
        }
    }

    // ------------------------------------------------------------------------------------------
    // LNK_CIRC (msg_lnk.c dmsg_lnk_circ, dmsg_circuit_route)

    /** dmsg_circuit: one side of a relayed circuit on one connection. */
    private static final class Circ {
        final Connection conn;
        long msgid;
        State state;
        Circ peer;
        int refs;

        Circ(Connection conn) {
            this.conn = conn;
        }
    }

    private void drop(Circ c) {
        if (--c.refs == 0) {
            c.conn.circuits.remove(c.msgid, c);
        }
    }

    private void lnkCirc(State st, Message m) {
        switch (m.cmd() & (Dmsg.CREATE | Dmsg.DELETE | Dmsg.REPLY)) {
            case Dmsg.CREATE, Dmsg.CREATE | Dmsg.DELETE -> {
                if (!circCreate(st, m) || !m.isDelete()) {
                    return;
                }
                circDeleteFromA(st, m); // FALL THROUGH TO DELETE
            }
            case Dmsg.DELETE -> circDeleteFromA(st, m);
            case Dmsg.REPLY | Dmsg.CREATE, Dmsg.REPLY | Dmsg.CREATE | Dmsg.DELETE -> {
                // (B) acknowledges the circuit: the result travels back toward (A).
                Circ circB = st.circ;
                Circ circA = circB == null ? null : circB.peer;
                if (circB == null || circA == null) {
                    bug("C: assert(circB); assert(circA)");
                    if (circB != null && m.isDelete()) {
                        circDeleteFromB(st, m);
                    }
                    return;
                }
                if (!m.isDelete()) {
                    if (circA.state != null) {
                        stateReply(circA.state, m.error(), false); // dmsg_state_result
                    } else {
                        bug("C: dmsg_state_result(NULL, …)");
                    }
                    return;
                }
                circDeleteFromB(st, m); // FALL THROUGH TO DELETE
            }
            case Dmsg.REPLY | Dmsg.DELETE -> circDeleteFromB(st, m);
            default -> {
                // a one-way or mid-stream message on a LNK_CIRC: dmsg_lnk_circ has no case for it
            }
        }
    }

    /** (A) wishes to establish a virtual circuit through us. Returns false if refused (CANTCIRC). */
    private boolean circCreate(State st, Message m) {
        Connection a = st.conn;
        LnkCirc circ = m.ext(LnkCirc.class);
        State tx = a.statewr.get(circ.target());
        if (tx == null || tx.icmd != Dmsg.LNK_SPAN) {
            log.info("fd {}: dmsg_lnk_circ: {} {}", a.fd, tx == null ? "no circuit" : "not LNK_SPAN",
                Long.toHexString(circ.target()));
            cantcircSent++;
            msgReply(a, st, m, Dmsg.ERR_CANTCIRC, true);
            return false;
        }
        if (tx.relay == null) {
            // C: rx_state = tx_state->any.relay->source_rt with relay NULL (a relay deleted while
            // its SPAN transaction is still half-open): a NULL dereference. Refused instead.
            bug("C: a NULL relay dereferenced for a half-closed target span (dmsg_lnk_circ)");
            cantcircSent++;
            msgReply(a, st, m, Dmsg.ERR_CANTCIRC, true);
            return false;
        }
        State rx = tx.relay.source.state;
        Connection b = rx.conn;
        Circ circA = new Circ(a);
        circA.state = st;
        circA.msgid = st.msgid;
        circA.refs = 2; // state and peer
        st.circ = circA;
        st.func = this::lnkCirc;

        Circ circB = new Circ(b);
        State fwd = newLocalState(b, Dmsg.LNK_CIRC, this::lnkCirc);
        fwd.circ = circB;
        circB.state = fwd;
        circB.msgid = fwd.msgid;
        circB.refs = 2;
        circA.peer = circB;
        circB.peer = circA;
        if (a.circuits.putIfAbsent(circA.msgid, circA) != null || b.circuits.putIfAbsent(circB.msgid, circB) != null) {
            bug("C: if (RB_INSERT(...)) assert(0) — an id colliding in one iocom's tree");
        }
        circuitsForged++;
        log.info("fd {} -> fd {}: circuit {} -> {} (target span {} from fd {})", a.fd, b.fd,
            Long.toHexString(circA.msgid), Long.toHexString(circB.msgid), Long.toHexString(rx.msgid), b.fd);
        send(fwd, Message.of(Dmsg.LNK_CIRC | Dmsg.CREATE, fwd.msgid, 0, 0, new LnkCirc(0, rx.msgid), null));
        return true; // no reply: the far end's CREATE|REPLY travels back
    }

    /** (A) is deleting the circuit: propagate the close to (B) with the same error. */
    private void circDeleteFromA(State st, Message m) {
        Circ circA = st.circ;
        if (circA == null) {
            return; // already returned an error/deleted
        }
        Circ circB = circA.peer;
        boolean disconnect = false;
        if (circB != null && circB.state != null) {
            State s = circB.state;
            if ((s.rxcmd & Dmsg.DELETE) != 0) {
                disconnect = true;
                circB.state = null;
                s.circ = null;
                drop(circB);
            }
            stateReply(s, m.error(), true);
        }
        if (circA.state != null) {
            State s = circA.state;
            if ((s.txcmd & Dmsg.DELETE) != 0) {
                disconnect = true;
                circA.state = null;
                s.circ = null;
                drop(circA);
            }
        }
        if (disconnect && circB != null) {
            circA.peer = null;
            circB.peer = null;
            drop(circA);
            drop(circB);
        }
    }

    /** (B) is deleting the circuit or acknowledging our delete: propagate to (A). */
    private void circDeleteFromB(State st, Message m) {
        Circ circB = st.circ;
        if (circB == null) {
            bug("C: circA = circB->peer with circB NULL");
            return;
        }
        Circ circA = circB.peer;
        boolean disconnect = false;
        if (circA != null && circA.state != null) {
            State s = circA.state;
            if ((s.rxcmd & Dmsg.DELETE) != 0) {
                disconnect = true;
                circA.state = null;
                s.circ = null;
                drop(circA);
            }
            stateReply(s, m.error(), true);
        }
        if (circB.state != null) {
            State s = circB.state;
            if ((s.txcmd & Dmsg.DELETE) != 0) {
                disconnect = true;
                circB.state = null;
                s.circ = null;
                drop(circB);
            }
        }
        if (disconnect && circA != null) {
            circB.peer = null;
            circA.peer = null;
            drop(circB);
            drop(circA);
        }
    }

    /**
     * dmsg_circuit_route: a message with circuit ≠ 0 is re-sent unchanged on the peer circuit's
     * connection with only the circuit id replaced; no state processing.
     */
    private void circuitRoute(Connection c, Message m) {
        Circ circ = c.circuits.get(m.circuit());
        if (circ == null) {
            unknownCircuit++; // C: assert(circ)
            crashes.record("fd " + c.fd + ": circuit " + Long.toHexString(m.circuit()) + " unknown (assert(circ)): "
                + FrameLog.line(FrameLog.RECEIVED, m));
            log.warn("fd {}: circuit {} unknown (C: assert(circ)); dropped: {}", c.fd, Long.toHexString(m.circuit()),
                FrameLog.line(FrameLog.RECEIVED, m));
            return;
        }
        Circ peer = circ.peer;
        if (peer == null) {
            bug("C: dmsg_circuit_hold(NULL), then peer->iocom");
            log.warn("fd {}: circuit {} has no peer (C: NULL dereference); dropped", c.fd, Long.toHexString(m.circuit()));
            return;
        }
        forwarded++;
        enqueue(peer.conn, m.rewrite(m.cmd(), m.msgid(), peer.msgid));
    }

    // ------------------------------------------------------------------------------------------
    // Link loss (docs/REFERENCE.md §2.7, dmsg_ioq_read's error path)

    /**
     * The connection is dead: every open circuit-0 state gets one simulated received message
     * carrying the local {@code error}, through its normal handler (the peer's first, then ours).
     * C then slept 100 ms and retried while a state's rx side was closed and its tx side not; the
     * fixture leaves those to be closed by later events (the circuit's other side closing) and counts them.
     */
    private void linkLost(Connection c, int error) {
        if (c.dead) {
            return;
        }
        c.dead = true;
        for (State st : new ArrayList<>(c.staterd.values())) {
            if (c.staterd.get(st.msgid) == st && (st.rxcmd & Dmsg.DELETE) == 0) {
                simulate(st, Message.of(Dmsg.LNK_ERROR | Dmsg.ABORT | Dmsg.DELETE, st.msgid, 0, error));
            }
        }
        for (State st : new ArrayList<>(c.statewr.values())) {
            if (c.statewr.get(st.msgid) == st && (st.rxcmd & Dmsg.DELETE) == 0) {
                int cmd = Dmsg.LNK_ERROR | Dmsg.ABORT | Dmsg.DELETE | Dmsg.REPLY
                    | ((st.rxcmd & Dmsg.CREATE) == 0 ? Dmsg.CREATE : 0);
                simulate(st, Message.of(cmd, st.msgid, 0, error));
            }
        }
        int stalls = 0;
        for (State st : c.staterd.values()) {
            stalls += (st.rxcmd & Dmsg.DELETE) != 0 && (st.txcmd & Dmsg.DELETE) == 0 ? 1 : 0;
        }
        for (State st : c.statewr.values()) {
            stalls += (st.rxcmd & Dmsg.DELETE) != 0 && (st.txcmd & Dmsg.DELETE) == 0 ? 1 : 0;
        }
        teardownStalls += stalls;
        if (c.h2conn != null) {
            bug("a fixture bug: its LNK_CONN state should have torn it down");
            connq.remove(c.h2conn);
            c.h2conn = null;
        }
        relayScan();
    }

    private void simulate(State st, Message sim) {
        if ((sim.cmd() & Dmsg.CREATE) != 0) {
            st.rxcmd |= Dmsg.CREATE | (sim.cmd() & Dmsg.REPLY);
        }
        dispatch(st.conn, st, sim);
        cleanupRx(st, sim);
    }
}
