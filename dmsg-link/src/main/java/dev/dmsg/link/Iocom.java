package dev.dmsg.link;

import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.BASECMDMASK;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;

import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.util.collection.LongObjectHashMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transaction engine of one link (libdmsg {@code dmsg_iocom}, kernel {@code kdmsg_iocom}):
 * the lifecycle, the transaction tables, and the receive rules, one method per received event.
 *
 * <p><b>Concurrency model.</b> All state of a link is touched only on its event loop (the
 * {@link Transport}'s executor). Public methods called from another thread are submitted to the
 * event loop in call order; before submitting, such a caller blocks while the link's outbound side
 * is over budget ({@link Outbound}). Handlers are called on the event loop, never under a lock.
 *
 * <p><b>Receive path</b> ({@link #receive}): count, unseal, then {@link #dispatch} classifies the
 * message once by its flags (docs/REFERENCE.md §2.3, adjusted by docs/PROFILE.md §2) and calls one
 * method per event: {@link #onCreate}, {@link #onReplyCreate}, {@link #onStreaming},
 * {@link #onDelete}, {@link #onAbort}, {@link #onOneWay}, and, off the table,
 * {@link #onBeforeAuth} and {@link #onNotEndingHere}. A peer's state violation is dropped and
 * counted, never fatal; ABORT for an unknown or closed msgid is discarded silently; one-way
 * messages are never answered; a transaction opened with a command no service accepts is
 * answered {@code LNK_ERROR|CREATE|DELETE|REPLY} NOSUPP. Transaction state changes only through
 * {@link Txn#on} ({@link TxnState#next}).
 *
 * <p><b>Link loss</b> ({@link #fail}): every transaction still in a table, on every circuit, gets
 * one simulated {@code LNK_ERROR|ABORT|DELETE} (+REPLY for ours, +CREATE when the peer never
 * answered; docs/REFERENCE.md §2.7) with LOSTLINK through its handler, exactly once (docs/PROFILE.md §3).
 *
 * <p><b>Helpers</b>, package-private and final (no megamorphic call on the per-message path):
 * {@link LocalSends} (what we open and send one-way), {@link CircuitTable} (the circuits: tables, seals, relays; the mesh's {@link LinkCircuits}),
 * {@link ConnExchange} (the two LNK_CONNs), {@link AuthGate} and {@link AbuseLimits}
 * (docs/SECURITY.md §4, §7), {@link Keepalive} (PING), {@link Outbound} (flush batching and
 * backpressure), {@link LinkCounters}.
 *
 * <p>Time is read only through the injected clock, at batch boundaries ({@link #readComplete},
 * flush) and in {@link #tick(long)}, which the transport calls periodically.
 *
 * <p><b>Why ~770 lines.</b> Iocom is the {@link Link} itself and its {@link LinkDriver}: some 35
 * one-line accessors and delegations (~200 lines) sit beside the receive rules (~300, one
 * method per event, each with the rule it implements) and the lifecycle with link loss (~140).
 * Splitting the receive rules further would scatter one table of docs/REFERENCE.md §2.3 over
 * several classes; a separate facade for the accessors would add a hop on every user call.
 */
final class Iocom implements Link, LinkDriver {
    private static final Logger log = LoggerFactory.getLogger(Iocom.class);

    private final LinkConfig config;
    final Services services;
    final LinkListener listener;
    final Transport transport;
    private final String name;

    private volatile LinkState state = LinkState.NEW;
    private volatile String closeReason;
    private final CompletableFuture<String> closeFuture = new CompletableFuture<>();

    /** The peer is a 2013 C node (docs/LEGACY.md): configured so, or marked when its LNK_CONN showed it. */
    private volatile boolean legacy;

    final LinkCounters counters = new LinkCounters();
    final CircuitTable circuits;
    private final ConnExchange conn = new ConnExchange(this);
    private final AuthGate authGate = new AuthGate();
    private final AbuseLimits limits;
    private final Keepalive keepalive;
    final Outbound outbound;
    private final LocalSends sends = new LocalSends(this);

    Iocom(LinkConfig config, Services services, LinkListener listener, Transport transport) {
        this.config = config;
        this.legacy = config.legacyPeer();
        this.services = services;
        this.listener = listener;
        this.transport = transport;
        this.name = config.label() + "<->" + transport.remoteAddress();
        this.circuits = new CircuitTable(this, counters);
        this.limits = new AbuseLimits(config, transport);
        this.keepalive = new Keepalive(config);
        this.outbound = new Outbound(this, transport, config, keepalive, counters);
    }

    // ------------------------------------------------------------------------------------------
    // Lifecycle (docs/PROFILE.md §3, §4)

    /** Transport is up: opens our LNK_CONN (docs/PROFILE.md §4). Event loop only. */
    @Override
    public void start() {
        transition(LinkState.OPENING, "transport up");
        long now = config.clock().getAsLong();
        keepalive.start(now);
        limits.start(now);
        PeerIdentity peer = transport.peer();
        if (config.tls() != null && peer != null) {
            // After TLS: our LNK_AUTH, then at once our LNK_CONN; the stream is ordered, so the
            // peer checks our AUTH before it sees anything else of ours. A legacy peer's link has
            // a peer but a config without tls (LinkChannelHandler.forLegacyPeer): no AUTH either way.
            authGate.pending = true;
            byte[] ourKey = Fingerprints.sha256(config.tls().keys().publicKey());
            // The label AUTH carries is the name in our certificate: the name peers trust our key as.
            sendNow(null, Message.of(Dmsg.LNK_AUTH, 0, 0, 0, Auth.ours(ourKey, config.tls().keys().label(), peer), null));
        }
        conn.ours = sends.newLocal(circuits.circuit0, Dmsg.LNK_CONN, conn::onOurs);
        sends.openOnLoop(conn.ours, Dmsg.LNK_CONN, config.conn(), null);
        outbound.flushNow();
    }

    private void transition(LinkState to, String reason) {
        LinkState from = state;
        if (!to.canEnterFrom(from)) {
            throw new IllegalStateException(name + ": illegal transition " + from + " -> " + to + " (" + reason + ")");
        }
        state = to;
        // DEBUG, the closing ones too: a node logs each link's end once, with this reason
        // (LinkListener.onDown, the node's "link down" line); a tool's link to a node closing
        // after every command is not worth a line at INFO in the node's log (issue 18).
        log.debug("link {} {} -> {}: {}", name, from, to, reason);
    }

    /** The peer's LNK_CONN was accepted ({@link ConnExchange}): the link is UP. */
    void peerConnArrived() {
        if (state == LinkState.OPENING) {
            transition(LinkState.UP, "peer LNK_CONN from " + peerLabel());
            listener.onUp(this);
        }
    }

    @Override
    public void close() {
        submit(0, this::closeOnLoop);
    }

    private void closeOnLoop() {
        if (!state.isAlive()) {
            return;
        }
        // Our last words first; once CLOSING, the output is half-closed and sends are discarded.
        conn.close();
        outbound.flushNow();
        transition(LinkState.CLOSING, "closed locally");
        closeReason = "closed locally";
        transport.close();
    }

    /** The transport has closed (EOF, reset, or our own close). Event loop only. */
    @Override
    public void transportClosed(String why) {
        fail(closeReason != null ? closeReason : why);
    }

    /**
     * The link is dead: abort every open transaction with LOSTLINK (exactly once each), close the
     * transport, and tell the listener. Idempotent. Event loop only.
     */
    @Override
    public void fail(String reason) {
        if (state == LinkState.CLOSED) {
            return;
        }
        if (state == LinkState.CLOSING) {
            reason = closeReason; // whatever ends an orderly close, it was ours
        }
        transition(LinkState.CLOSED, reason);
        closeReason = reason;
        int aborted = abortAll();
        transport.close();
        outbound.writableAgain();
        try {
            listener.onDown(this, reason, aborted);
        } catch (RuntimeException e) {
            log.warn("link {}: listener onDown threw", name, e);
        }
        closeFuture.complete(reason);
    }

    private int abortAll() {
        Map<String, Integer> byCommand = new TreeMap<>();
        int n = 0;
        for (Circuit c : circuits.all()) {
            n += abortCircuit(c, byCommand);
        }
        if (n > 0) {
            StringBuilder sb = new StringBuilder();
            byCommand.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ", ").append(k).append(" x").append(v));
            // LNK_CONN and LNK_SPAN are the link's own, aborted with every link that closes; only
            // other work lost with the link is news at INFO
            boolean onlyOwn = byCommand.keySet().stream().allMatch(k -> k.startsWith("LNK_CONN(") || k.startsWith("LNK_SPAN("));
            if (onlyOwn) {
                log.debug("link {}: aborted {} open transaction(s) with LOSTLINK: {}", name, n, sb);
            } else {
                log.info("link {}: aborted {} open transaction(s) with LOSTLINK: {}", name, n, sb);
            }
        }
        return n;
    }

    /** Empties both tables of {@code c}, each transaction getting its LOSTLINK abort; returns how many. */
    int abortCircuit(Circuit c, Map<String, Integer> byCommand) {
        int n = 0;
        for (boolean local : new boolean[] {false, true}) {
            LongObjectHashMap<Txn> table = c.table(local);
            List<Txn> txns = new ArrayList<>(table.values());
            table.clear();
            for (Txn t : txns) {
                removed(t);
                byCommand.merge(Command.nameOf(t.icmd) + (local ? "(ours)" : "(peer's)"), 1, Integer::sum);
                deliverLost(t);
                n++;
            }
        }
        return n;
    }

    /** Delivers the simulated LOSTLINK abort to {@code t} (docs/REFERENCE.md §2.7 flags). */
    void deliverLost(Txn t) {
        int cmd = Dmsg.LNK_ERROR | ABORT | DELETE;
        if (t.local) {
            cmd |= REPLY;
        }
        if (t.state().rx == Phase.IDLE) {
            cmd |= CREATE;
        }
        t.on(TxnState.Event.LOST, cmd);
        invoke(t, Message.of(cmd, t.msgid, t.circuit.id, Dmsg.ERR_LOSTLINK));
    }

    // ------------------------------------------------------------------------------------------
    // Receive: one method per event (docs/REFERENCE.md §2.3 as docs/PROFILE.md §2 adjusts it)

    /**
     * A decoded message from the peer. Takes ownership; releases it after dispatch (handlers
     * retain to keep it). Event loop only.
     */
    @Override
    public void receive(Message m) {
        try {
            if (state == LinkState.CLOSED || state == LinkState.NEW) {
                return;
            }
            counters.msgsIn++;
            counters.bytesIn += FrameEncoder.frameBytes(m);
            if (config.logFrames() && log.isDebugEnabled()) {
                log.debug("{} {}", name, FrameLog.line(FrameLog.RECEIVED, m));
            }
            outbound.inReadBatch = true;
            Message opened = m.circuit() == 0 ? m : circuits.unseal(m);
            if (opened != null) {
                try {
                    dispatch(opened);
                } finally {
                    if (opened != m) {
                        opened.release();
                    }
                }
            }
        } finally {
            m.release();
        }
    }

    /** End of a batch of reads: counts as life, refills the abort budget, flushes replies. Event loop only. */
    @Override
    public void readComplete() {
        outbound.inReadBatch = false;
        long now = config.clock().getAsLong();
        keepalive.life(now);
        limits.refill(now);
        outbound.flushNow();
    }

    /**
     * Classifies {@code m} once: {@code F = cmd & (CREATE|DELETE|REPLY)}, looked up in the table of
     * our transactions if REPLY, else of the peer's (docs/REFERENCE.md §2.3), and hands it to the
     * one method for its event.
     */
    private void dispatch(Message m) {
        if (authGate.pending) {
            onBeforeAuth(m);
            return;
        }
        Circuit c = circuits.find(m.circuit());
        if (c == null) {
            onNotEndingHere(m);
            return;
        }
        int cmd = m.cmd();
        boolean reply = (cmd & REPLY) != 0;
        if ((cmd & ABORT) != 0 && !reply && !limits.takeAbortToken()) {
            String why = limits.rapidResetReason(m);
            log.warn("link {}: closing: {}", name, why); // an attack: at WARN, whatever the node logs of the close
            fail(why); // docs/SECURITY.md §7: rapid reset closes the link
            return;
        }
        Txn t = m.msgid() == 0 ? null : c.table(reply).get(m.msgid());
        switch (cmd & (CREATE | DELETE)) {
            case 0:
                if ((cmd & ABORT) != 0) {
                    onAbort(t, m);
                } else if (t != null) {
                    onStreaming(t, m);
                } else {
                    onOneWay(m);
                }
                return;
            case CREATE:
            case CREATE | DELETE:
                if (reply) {
                    onReplyCreate(t, m);
                } else {
                    onCreate(c, t, m);
                }
                return;
            default: // DELETE without CREATE
                onDelete(t, m);
        }
    }

    /** §2.3 "CREATE[|DELETE], none": the peer opens a transaction; a duplicate or msgid 0 is dropped. */
    private void onCreate(Circuit c, Txn existing, Message m) {
        if (existing != null) {
            violation(Violation.DUPLICATE_CREATE, m);
        } else if (m.msgid() == 0) {
            violation(Violation.ZERO_MSGID, m);
        } else {
            accept(c, m);
        }
    }

    /** §2.3 "REPLY|CREATE[|DELETE]": the peer answers a transaction of ours, once. */
    private void onReplyCreate(Txn t, Message m) {
        if (t == null) {
            rejectOrDiscard(Violation.UNKNOWN_MSGID, m);
        } else if (t.state().rx != Phase.IDLE) {
            rejectOrDiscard(Violation.DUPLICATE_CREATE, m);
        } else {
            deliver(t, m);
        }
    }

    /** §2.3 "none, no ABORT, found": a streaming element, or a one-way message inside a transaction. */
    private void onStreaming(Txn t, Message m) {
        deliver(t, m);
    }

    /** §2.3 "DELETE [REPLY]": the peer closes its direction; only once, and only after its CREATE. */
    private void onDelete(Txn t, Message m) {
        if (t == null) {
            rejectOrDiscard(Violation.UNKNOWN_MSGID, m);
        } else if (t.state().rx == Phase.IDLE) {
            rejectOrDiscard(Violation.DELETE_BEFORE_CREATE, m);
        } else if (t.state().rx == Phase.CLOSED) {
            rejectOrDiscard(Violation.DUPLICATE_DELETE, m);
        } else {
            deliver(t, m);
        }
    }

    /** §2.3 "none + ABORT": a mid-stream ABORT; discarded if nothing is open in that direction (EALREADY). */
    private void onAbort(Txn t, Message m) {
        if (t == null || t.state().rx == Phase.IDLE) {
            counters.abortsDiscarded++;
        } else {
            deliver(t, m);
        }
    }

    /**
     * §2.3 "none, no state": a one-way message, never answered (docs/PROFILE.md §2). PING and PAD
     * are the link's (§4); others go to their service's handler or are counted and dropped.
     */
    private void onOneWay(Message m) {
        int base = m.baseCmd();
        if (base == Dmsg.LNK_PING) {
            counters.pingsReceived++;
            return;
        }
        if (base == Dmsg.LNK_PAD) {
            return; // docs/PROFILE.md §4: accepted and ignored
        }
        OneWayHandler h = services.oneWayHandler(m.cmd());
        if (base == Dmsg.LNK_ERROR) {
            // A 2013 C peer answers our one-way PING (and any one-way command it does not know)
            // with a one-way LNK_ERROR NOSUPP, and ends C shell output with one (docs/REFERENCE.md §2.6,
            // §7.1). Expected from such peers: counted, never answered, not logged as a breach;
            // a C shell client (docs/LEGACY.md) may take it as its end of output.
            counters.oneWayErrors++;
            if (h == null) {
                return;
            }
        }
        if (h == null) {
            violation(Violation.UNKNOWN_ONE_WAY, m); // counted and dropped, never answered
            return;
        }
        try {
            h.onOneWay(this, m);
        } catch (RuntimeException e) {
            counters.handlerErrors++;
            log.warn("link {}: one-way handler for {} threw", name, Command.nameOf(m.cmd()), e);
        }
    }

    /** TLS links before the peer's LNK_AUTH: only PAD and a good AUTH (docs/SECURITY.md §4). */
    private void onBeforeAuth(Message m) {
        String refusal = authGate.admit(name, m, transport.peer());
        if (refusal != null) {
            fail(refusal);
        }
    }

    /**
     * A circuit that does not end here (docs/REFERENCE.md §3.5): handed to its relay if it passes
     * through; dropped as late if we closed it lately (the far end's answers still in flight:
     * expected, not a breach); else an unknown circuit.
     */
    private void onNotEndingHere(Message m) {
        CircuitRelay r = circuits.relayOf(m.circuit());
        if (r != null) {
            counters.messagesRelayed++;
            counters.bytesRelayed += FrameEncoder.frameBytes(m);
            r.onMessage(this, m.retain());
        } else if (circuits.recentlyDetached(m.circuit())) {
            counters.lateOnDetached++;
        } else {
            violation(Violation.UNKNOWN_CIRCUIT, m);
        }
    }

    /** With ABORT the seed asks for a silent discard (a late abort racing the close); else a violation. */
    private void rejectOrDiscard(Violation v, Message m) {
        if (m.isAbort()) {
            counters.abortsDiscarded++;
        } else {
            violation(v, m);
        }
    }

    private void violation(Violation v, Message m) {
        counters.violation(name, v, m);
    }

    /** The peer's new transaction: counted against its caps, then given to its service (or refused). */
    private void accept(Circuit c, Message m) {
        int icmd = m.cmd() & BASECMDMASK;
        Txn t = new Txn(this, c, m.msgid(), icmd, false);
        c.accepted.put(t.msgid, t);
        counters.openTransactions++;
        String overLimit = limits.admit(c, t);
        if (overLimit != null) {
            refuseOverLimit(c, t, m, overLimit);
        } else if (c == circuits.circuit0 && icmd == Dmsg.LNK_CONN) {
            conn.accept(t, m);
        } else {
            serve(t, m, icmd);
        }
    }

    /** docs/SECURITY.md §7: answered LIMIT, not served; the link stays up. */
    private void refuseOverLimit(Circuit c, Txn t, Message m, String why) {
        long n = ++counters.refusedOverLimit;
        if (LinkCounters.shouldLog(n)) {
            log.warn("link {}: refused {} ({} so far): {}", name, FrameLog.line(FrameLog.RECEIVED, m), n, why);
        }
        t.handler = TransactionHandler.CLOSE_ON_DELETE;
        t.on(TxnState.Event.RECEIVED, m.cmd());
        t.replyOnLoop(Dmsg.ERR_LIMIT, true);
        // Forgotten at once, half-open or not: a peer past its cap that never sends DELETE must
        // not grow our tables. Its late DELETE is then an unknown msgid (counted, dropped).
        if (c.accepted.remove(t.msgid) != null) {
            removed(t);
        }
    }

    /** The service for {@code icmd} takes the transaction; none: NOSUPP (docs/PROFILE.md §2). */
    private void serve(Txn t, Message m, int icmd) {
        Acceptor a = services.acceptor(icmd);
        TransactionHandler h = null;
        if (a != null) {
            try {
                h = a.accept(t, m);
            } catch (RuntimeException e) {
                t.handler = TransactionHandler.CLOSE_ON_DELETE;
                t.on(TxnState.Event.RECEIVED, m.cmd());
                handlerFailed(t, e);
                return;
            }
        }
        if (h == null) {
            counters.nosuppSent++;
            log.debug("link {}: NOSUPP for {}", name, FrameLog.line(FrameLog.RECEIVED, m));
            refuse(t, m, Dmsg.ERR_NOSUPP);
            return;
        }
        t.handler = h;
        deliver(t, m);
    }

    /** Takes the peer's CREATE {@code m} into {@code t} and closes our side at once with {@code error}. */
    void refuse(Txn t, Message m, int error) {
        t.handler = TransactionHandler.CLOSE_ON_DELETE;
        t.on(TxnState.Event.RECEIVED, m.cmd());
        t.replyOnLoop(error, true);
        t.removeIfClosed();
    }

    /** Applies a received message to {@code t}'s state and hands it to the handler. */
    void deliver(Txn t, Message m) {
        t.on(TxnState.Event.RECEIVED, m.cmd());
        invoke(t, m);
        t.removeIfClosed();
    }

    private void invoke(Txn t, Message m) {
        try {
            t.handler.onMessage(t, m);
        } catch (RuntimeException e) {
            handlerFailed(t, e);
        }
    }

    private void handlerFailed(Txn t, RuntimeException e) {
        counters.handlerErrors++;
        log.warn("link {}: handler of transaction {} ({}) threw; aborting it", name,
            Long.toHexString(t.msgid), Command.nameOf(t.icmd), e);
        if (state != LinkState.CLOSED) {
            t.abortCloseOnLoop();
        }
    }

    // ------------------------------------------------------------------------------------------
    // Keepalive

    /**
     * Periodic check, driven by the transport's timer (tests call it with a fake clock): sends
     * LNK_PING after {@link LinkConfig#pingIntervalNanos()} without sending; declares the link dead
     * after {@link LinkConfig#deadTimeoutNanos()} without life ({@link Keepalive#check}).
     */
    @Override
    public void tick(long nowNanos) {
        if (!state.isAlive()) {
            return;
        }
        switch (keepalive.check(nowNanos, transport.outboundBacklogBytes(), circuits.readPauses() > 0, legacy,
            state == LinkState.UP)) {
            case DEAD:
                fail(String.format("ping timeout: nothing received for %.1f s", keepalive.silentNanos(nowNanos) / 1e9));
                return;
            case PING:
                counters.pingsSent++;
                sendNow(null, Message.of(Dmsg.LNK_PING, 0, 0, 0));
                outbound.flushNow();
                keepalive.sent(nowNanos);
                return;
            default:
        }
    }

    // ------------------------------------------------------------------------------------------
    // Send (docs/REFERENCE.md §2.4)

    /**
     * Writes {@code m} now; bookkeeping for {@code t} (may be null for one-way). Discarded unless
     * the link is OPENING or UP. Event loop only.
     */
    void sendNow(Txn t, Message m) {
        if (!state.isAlive()) {
            counters.sendsDiscarded.increment();
            m.release();
            return;
        }
        if (t != null) {
            t.on(TxnState.Event.SENT, m.cmd());
        }
        if (m.circuit() != 0) {
            m = circuits.seal(m);
        }
        counters.msgsOut++;
        counters.bytesOut += FrameEncoder.frameBytes(m);
        if (config.logFrames() && log.isDebugEnabled()) {
            log.debug("{} {}", name, FrameLog.line(FrameLog.SENT, m));
        }
        transport.write(m);
        outbound.written();
        if (t != null) {
            t.removeIfClosed();
        }
    }

    /** Counts a send dropped because the link or transaction was closed. Any thread. */
    void discardedSend() {
        counters.sendsDiscarded.increment();
    }

    /** {@link Outbound#submit}: on the event loop, after blocking while over budget. */
    void submit(int bytes, Runnable action) {
        outbound.submit(bytes, action);
    }

    /** The transport's outbound buffer crossed a water mark. Event loop only. */
    @Override
    public void writabilityChanged(boolean writable) {
        outbound.writabilityChanged(writable);
    }

    @Override
    public void whenWritable(Runnable task) {
        outbound.whenWritable(task);
    }

    // ------------------------------------------------------------------------------------------
    // Link API

    @Override
    public Transaction open(int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler) {
        return sends.open(0, cmd, ext, aux, handler);
    }

    @Override
    public Transaction open(long circuit, int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler) {
        return sends.open(circuit, cmd, ext, aux, handler);
    }

    @Override
    public void sendOneWay(int cmd, ExtHeader ext, ByteBuf aux) {
        sends.sendOneWay(0, cmd, ext, aux);
    }

    @Override
    public void sendOneWay(long circuit, int cmd, ExtHeader ext, ByteBuf aux) {
        sends.sendOneWay(circuit, cmd, ext, aux);
    }

    /** {@code t} left its table: it no longer counts as open, nor against the peer's caps. */
    void removed(Txn t) {
        counters.openTransactions--;
        limits.release(t);
    }

    @Override
    public Link link() {
        return this;
    }

    @Override
    public LinkCircuits circuits() {
        return circuits;
    }

    @Override
    public PeerIdentity circuitPeer(long id) {
        return circuits.circuitPeer(id);
    }

    /** Messages dropped as late on a circuit detached here. Event loop only. */
    long lateOnDetached() {
        return counters.lateOnDetached;
    }

    /** Pauses not yet resumed (tests and status). Event loop only. */
    int readPauses() {
        return circuits.readPauses();
    }

    @Override
    public boolean legacyPeer() {
        return legacy;
    }

    @Override
    public void markLegacy() {
        legacy = true;
    }

    @Override
    public String label() {
        return config.label();
    }

    @Override
    public void denied(String what) {
        counters.denied.increment();
        long n = counters.denied.sum();
        if (LinkCounters.shouldLog(n)) {
            log.warn("link {}: refused ({} so far): {}", name, n, what);
        }
    }

    @Override
    public String security() {
        return transport.security();
    }

    @Override
    public PeerIdentity peer() {
        return transport.peer();
    }

    @Override
    public String peerLabel() {
        LnkConn c = conn.peerConn;
        return c != null && !c.fsLabel().isEmpty() ? c.fsLabel() : transport.remoteAddress();
    }

    @Override
    public Transaction conn() {
        return conn.ours;
    }

    @Override
    public Transaction peerConnTxn() {
        return conn.peers();
    }

    @Override
    public LnkConn peerConn() {
        return conn.peerConn;
    }

    @Override
    public String remoteAddress() {
        return transport.remoteAddress();
    }

    @Override
    public LinkState state() {
        return state;
    }

    @Override
    public String closeReason() {
        return closeReason;
    }

    @Override
    public CompletableFuture<String> closeFuture() {
        return closeFuture;
    }

    @Override
    public boolean isWritable() {
        return outbound.isWritable();
    }

    @Override
    public void execute(Runnable task) {
        transport.execute(task);
    }

    LinkConfig config() {
        return config;
    }

    boolean inEventLoop() {
        return transport.inEventLoop();
    }

    String name() {
        return name;
    }

    @Override
    public LinkStats stats() {
        return counters.snapshot();
    }

    @Override
    public String toString() {
        return "Link[" + name + " " + state + "]";
    }
}
