package dev.dmsg.link;

import static dev.dmsg.wire.Dmsg.ABORT;
import static dev.dmsg.wire.Dmsg.BASECMDMASK;
import static dev.dmsg.wire.Dmsg.CREATE;
import static dev.dmsg.wire.Dmsg.DELETE;
import static dev.dmsg.wire.Dmsg.REPLY;

import dev.dmsg.link.tls.Fingerprints;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Role;
import dev.dmsg.wire.AuthBody;
import dev.dmsg.wire.Command;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.LnkAuth;
import dev.dmsg.wire.LnkConn;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.util.collection.LongObjectHashMap;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transaction engine of one link (libdmsg {@code dmsg_iocom}, kernel {@code kdmsg_iocom}).
 *
 * <p><b>Concurrency model.</b> All state of a link is touched only on its event loop (the
 * {@link Transport}'s executor). Public methods called from another thread are submitted to the
 * event loop in call order; before submitting, such a caller blocks while the link's outbound side
 * is over budget (see {@link Link}). Handlers are called on the event loop, never under a lock.
 *
 * <p><b>Receive rules</b> ({@link #receive}): docs/REFERENCE.md §2.3, adjusted by docs/PROFILE.md §2 — a peer's
 * state violation is dropped and counted, never fatal; ABORT for an unknown or closed msgid is
 * discarded silently; one-way messages are never answered; a transaction opened with a command
 * no service accepts is answered {@code LNK_ERROR|CREATE|DELETE|REPLY} NOSUPP.
 *
 * <p><b>Link loss</b> ({@link #fail}): every transaction still in a table, on every circuit, gets
 * one simulated {@code LNK_ERROR|ABORT|DELETE} (+REPLY for ours, +CREATE when the peer never
 * answered; docs/REFERENCE.md §2.7) with LOSTLINK through its handler, exactly once (docs/PROFILE.md §3).
 *
 * <p>Time is read only through the injected clock, at batch boundaries ({@link #readComplete},
 * flush) and in {@link #tick(long)}, which the transport calls periodically.
 */
public final class Iocom implements Link {
    private static final Logger log = LoggerFactory.getLogger(Iocom.class);

    private final LinkConfig config;
    private final Services services;
    private final LinkListener listener;
    private final Transport transport;
    private final String name;

    private volatile LinkState state = LinkState.NEW;
    private volatile String closeReason;
    private final CompletableFuture<String> closeFuture = new CompletableFuture<>();

    private final Circuit circuit0 = new Circuit(0);
    private final LongObjectHashMap<Circuit> circuits = new LongObjectHashMap<>();
    /** Circuits detached here lately, for late messages on them; bounded: the oldest are forgotten. */
    private final LinkedHashMap<Long, Boolean> recentlyDetached = new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, Boolean> eldest) {
            return size() > RECENTLY_DETACHED;
        }
    };
    private static final int RECENTLY_DETACHED = 256;
    private long lateOnDetached;
    /** msgids: a counter with a random start, never 0 and never reused on this link (docs/PROFILE.md §2). */
    private final AtomicLong nextMsgid;

    private Txn ourConn;
    private Txn peerConnTxn;
    private volatile LnkConn peerConn;
    /** The peer is a 2013 C node (docs/LEGACY.md): configured so, or marked when its LNK_CONN showed it. */
    private volatile boolean legacy;

    // Keepalive, in clock nanos.
    private long lastSendNanos;
    private long lastLifeNanos;
    private long lastBacklogBytes;

    // Flush batching.
    private boolean needsFlush;
    private boolean flushScheduled;
    private boolean inReadBatch;
    private final Runnable flushTask = this::flushScheduled;

    // Backpressure for threads other than the event loop.
    private final AtomicLong queuedBytes = new AtomicLong();
    private volatile boolean transportWritable = true;
    private final ReentrantLock bpLock = new ReentrantLock();
    private final Condition bpCondition = bpLock.newCondition();
    private volatile int bpWaiters;
    /** Event-loop producers waiting for writability ({@link #whenWritable}); event loop only. */
    private final ArrayDeque<Runnable> writableWaiters = new ArrayDeque<>();

    // Counters, written on the event loop only.
    private long msgsIn;
    private long bytesIn;
    private long msgsOut;
    private long bytesOut;
    private long pingsSent;
    private long pingsReceived;
    private final long[] violations = new long[Violation.values().length];
    private long abortsDiscarded;
    private long nosuppSent;
    private final LongAdder sendsDiscarded = new LongAdder();
    private long handlerErrors;
    private int openTransactions;
    private long messagesRelayed;
    private long messagesForwarded;
    private long oneWayErrors;
    private final LongAdder denied = new LongAdder();
    /** Transactions the peer opened that are still in a table (all circuits). Event loop only. */
    private int peerOpen;
    private long refusedOverLimit;
    /**
     * TLS links only: the peer's LNK_AUTH has not arrived yet, and until it has only PAD and
     * AUTH are accepted (the seed; docs/SECURITY.md §4). Event loop only.
     */
    private boolean authPending;
    /** Rapid-reset budget (token bucket, in aborts); refilled at read-batch ends. Event loop only. */
    private double abortTokens;
    private long abortRefillNanos;
    /** {@link #pauseReading()} calls not yet resumed. Event loop only. */
    private int readPauses;
    /** Circuits that pass through: their messages go to a relay, untracked. Event loop only. */
    private final LongObjectHashMap<CircuitRelay> relayed = new LongObjectHashMap<>();
    /** The far ends of the authenticated circuits ending here, for readers on other threads. */
    private final ConcurrentHashMap<Long, PeerIdentity> circuitPeers =
        new ConcurrentHashMap<>();
    /** Messages on authenticated circuits that failed to open (docs/IDENTITY.md §4.2). Event loop only. */
    private long sealFailures;

    public Iocom(LinkConfig config, Services services, LinkListener listener, Transport transport) {
        this.config = config;
        this.legacy = config.legacyPeer();
        this.services = services;
        this.listener = listener;
        this.transport = transport;
        this.name = config.label() + "<->" + transport.remoteAddress();
        circuits.put(0, circuit0);
        long start = ThreadLocalRandom.current().nextLong(1, 1L << 62);
        this.nextMsgid = new AtomicLong(start);
    }

    // ------------------------------------------------------------------------------------------
    // Lifecycle

    /** Transport is up: opens our LNK_CONN (docs/PROFILE.md §4). Event loop only. */
    public void start() {
        transition(LinkState.OPENING, "transport up");
        long now = config.clock().getAsLong();
        lastSendNanos = now;
        lastLifeNanos = now;
        abortTokens = config.abortBurst();
        abortRefillNanos = now;
        PeerIdentity peer = transport.peer();
        if (config.tls() != null && peer != null) {
            // After TLS: our LNK_AUTH, then at once our LNK_CONN; the stream is ordered, so the
            // peer checks our AUTH before it sees anything else of ours. A legacy peer's link has
            // a peer but a config without tls (LinkChannelHandler.forLegacyPeer): no AUTH either way.
            authPending = true;
            byte[] ourKey = Fingerprints.sha256(config.tls().keys().publicKey());
            // The label AUTH carries is the name in our certificate: the name peers trust our key as.
            sendNow(null, Message.of(Dmsg.LNK_AUTH, 0, 0, 0, Auth.ours(ourKey, config.tls().keys().label(), peer), null));
        }
        ourConn = newLocal(circuit0, Dmsg.LNK_CONN, this::onOurConn);
        openOnLoop(ourConn, Dmsg.LNK_CONN, config.conn(), null);
        flushNow();
    }

    private void transition(LinkState to, String reason) {
        LinkState from = state;
        if (!to.canEnterFrom(from)) {
            throw new IllegalStateException(name + ": illegal transition " + from + " -> " + to + " (" + reason + ")");
        }
        state = to;
        if (to == LinkState.CLOSED || to == LinkState.CLOSING) {
            log.info("link {} {} -> {}: {}", name, from, to, reason);
        } else {
            log.debug("link {} {} -> {}: {}", name, from, to, reason);
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
        if (ourConn != null) {
            ourConn.replyOnLoop(0, true);
        }
        if (peerConnTxn != null) {
            peerConnTxn.replyOnLoop(0, true);
        }
        flushNow();
        transition(LinkState.CLOSING, "closed locally");
        closeReason = "closed locally";
        transport.close();
    }

    /** The transport has closed (EOF, reset, or our own close). Event loop only. */
    public void transportClosed(String why) {
        fail(closeReason != null ? closeReason : why);
    }

    /**
     * The link is dead: abort every open transaction with LOSTLINK (exactly once each), close the
     * transport, and tell the listener. Idempotent. Event loop only.
     */
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
        writableAgain();
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
        List<Circuit> all = new ArrayList<>(circuits.values());
        for (Circuit c : all) {
            n += abortCircuit(c, byCommand);
        }
        if (n > 0) {
            StringBuilder sb = new StringBuilder();
            byCommand.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ", ").append(k).append(" x").append(v));
            log.info("link {}: aborted {} open transaction(s) with LOSTLINK: {}", name, n, sb);
        }
        return n;
    }

    private int abortCircuit(Circuit c, Map<String, Integer> byCommand) {
        int n = 0;
        for (boolean local : new boolean[] {false, true}) {
            LongObjectHashMap<Txn> table = c.table(local);
            List<Txn> txns = new ArrayList<>(table.values());
            table.clear();
            for (Txn t : txns) {
                openTransactions--;
                releasePeers(t);
                byCommand.merge(Command.nameOf(t.icmd) + (local ? "(ours)" : "(peer's)"), 1, Integer::sum);
                deliverLost(t);
                n++;
            }
        }
        return n;
    }

    /** Delivers the simulated LOSTLINK abort to {@code t} (docs/REFERENCE.md §2.7 flags). */
    private void deliverLost(Txn t) {
        int cmd = Dmsg.LNK_ERROR | ABORT | DELETE;
        if (t.local) {
            cmd |= REPLY;
        }
        if (t.state().rx == Phase.IDLE) {
            cmd |= CREATE;
        }
        t.on(TxnState.Event.LOST, 0);
        Message sim = Message.of(cmd, t.msgid, t.circuit.id, Dmsg.ERR_LOSTLINK);
        invoke(t, sim);
    }

    // ------------------------------------------------------------------------------------------
    // Circuits (the mesh layer attaches and detaches the circuits that end at this node)

    /** Starts keeping transaction tables for circuit {@code id} on this link. Event loop only. */
    @Override
    public void attachCircuit(long id) {
        if (id == 0 || circuits.containsKey(id) || relayed.containsKey(id)) {
            throw new IllegalStateException("circuit " + Long.toHexString(id) + " already attached");
        }
        circuits.put(id, new Circuit(id));
    }

    @Override
    public void secureCircuit(long id, CircuitSecurity security) {
        Circuit c = id == 0 ? null : circuits.get(id);
        if (c == null || c.security != null) {
            throw new IllegalStateException("circuit " + Long.toHexString(id) + (c == null ? " is not attached"
                : " is already secured"));
        }
        c.security = security;
        circuitPeers.put(id, security.peer());
    }

    @Override
    public PeerIdentity circuitPeer(long id) {
        return circuitPeers.get(id);
    }

    @Override
    public void relayCircuit(long id, CircuitRelay relay) {
        if (id == 0 || circuits.containsKey(id) || relayed.containsKey(id)) {
            throw new IllegalStateException("circuit " + Long.toHexString(id) + " already attached or relayed");
        }
        relayed.put(id, relay);
    }

    @Override
    public void unrelayCircuit(long id) {
        relayed.remove(id);
    }

    @Override
    public boolean forward(Message m, long circuit) {
        Message out;
        try {
            out = m.rewrite(m.cmd(), m.msgid(), circuit);
        } finally {
            m.release();
        }
        if (transport.inEventLoop()) {
            forwardOnLoop(out);
            return isWritable();
        }
        int bytes = FrameEncoder.frameBytes(out);
        queuedBytes.addAndGet(bytes);
        try {
            transport.execute(() -> {
                queuedBytes.addAndGet(-bytes);
                forwardOnLoop(out);
            });
        } catch (RejectedExecutionException e) {
            queuedBytes.addAndGet(-bytes);
            out.release();
            sendsDiscarded.increment();
            return false;
        }
        return isWritable();
    }

    private void forwardOnLoop(Message out) {
        messagesForwarded++;
        sendNow(null, out); // outside every transaction table: the ends track it, not us
    }

    @Override
    public void pauseReading() {
        if (readPauses++ == 0) {
            transport.setReadPaused(true);
        }
    }

    @Override
    public void resumeReading() {
        if (readPauses == 0) {
            throw new IllegalStateException("link " + name + ": resumeReading without pauseReading");
        }
        if (--readPauses == 0) {
            transport.setReadPaused(false);
        }
    }

    /** Messages dropped as late on a circuit detached here ({@link #detachCircuit}). Event loop only. */
    public long lateOnDetached() {
        return lateOnDetached;
    }

    /** Pauses not yet resumed (tests and status). Event loop only. */
    public int readPauses() {
        return readPauses;
    }

    /**
     * Stops circuit {@code id}: every transaction open on it gets the LOSTLINK abort.
     * Returns how many did. Event loop only.
     */
    @Override
    public int detachCircuit(long id) {
        Circuit c = id == 0 ? null : circuits.remove(id);
        circuitPeers.remove(id);
        if (c != null) {
            recentlyDetached.put(id, Boolean.TRUE);
        }
        return c == null ? 0 : abortCircuit(c, new HashMap<>());
    }

    // ------------------------------------------------------------------------------------------
    // Receive

    /**
     * A decoded message from the peer. Takes ownership; releases it after dispatch (handlers
     * retain to keep it). Event loop only.
     */
    public void receive(Message m) {
        try {
            if (state == LinkState.CLOSED || state == LinkState.NEW) {
                return;
            }
            msgsIn++;
            bytesIn += FrameEncoder.frameBytes(m);
            if (config.logFrames() && log.isDebugEnabled()) {
                log.debug("{} {}", name, FrameLog.line(FrameLog.RECEIVED, m));
            }
            inReadBatch = true;
            Message opened = m.circuit() == 0 ? m : unseal(m);
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

    /**
     * {@code m} opened if it arrived on a sealed circuit ending here, else {@code m} itself; null if
     * it failed to open — then the circuit is detached (its transactions aborted with LOSTLINK) and
     * the mesh told, which closes it end to end (docs/IDENTITY.md §4.2).
     */
    private Message unseal(Message m) {
        Circuit c = circuits.get(m.circuit());
        CircuitSecurity sec = c == null ? null : c.security;
        if (sec == null || sec.seal() == null) {
            return m;
        }
        try {
            return sec.seal().open(m);
        } catch (CircuitSeal.Broken e) {
            sealFailures++;
            String why = "circuit " + Long.toHexString(c.id) + " from " + sec.peer().name() + ": " + e.getMessage()
                + " (altered, injected, reordered or dropped on the path); closed";
            log.warn("link {}: {}", name, why);
            detachCircuit(c.id);
            try {
                sec.onBroken().accept(why);
            } catch (RuntimeException ex) {
                log.warn("link {}: circuit onBroken threw", name, ex);
            }
            return null;
        }
    }

    /** End of a batch of reads: counts as life, flushes replies. Event loop only. */
    public void readComplete() {
        inReadBatch = false;
        lastLifeNanos = config.clock().getAsLong();
        refillAbortTokens(lastLifeNanos);
        flushNow();
    }

    private void dispatch(Message m) {
        if (authPending && !authenticate(m)) {
            return;
        }
        int cmd = m.cmd();
        Circuit c = m.circuit() == 0 ? circuit0 : circuits.get(m.circuit());
        if (c == null) {
            CircuitRelay r = relayed.get(m.circuit());
            if (r != null) {
                messagesRelayed++;
                r.onMessage(this, m.retain());
                return;
            }
            if (recentlyDetached.containsKey(m.circuit())) {
                // The far end's answers still in flight when we closed the circuit (a transaction's
                // closing reply, say): expected, dropped without counting a breach.
                lateOnDetached++;
                return;
            }
            violation(Violation.UNKNOWN_CIRCUIT, m);
            return;
        }
        boolean reply = (cmd & REPLY) != 0;
        boolean abort = (cmd & ABORT) != 0;
        if (abort && !reply && !takeAbortToken(m)) {
            return; // the link is closed: rapid reset
        }
        Txn t = m.msgid() == 0 ? null : c.table(reply).get(m.msgid());

        if ((cmd & (CREATE | DELETE)) == 0) {
            if (abort) {
                // Mid-stream ABORT: discard if nothing is open in that direction (EALREADY).
                if (t == null || t.state().rx == Phase.IDLE) {
                    abortsDiscarded++;
                } else {
                    deliver(t, m);
                }
            } else if (t != null) {
                deliver(t, m); // a streaming element, or a one-way message inside a transaction
            } else {
                oneWay(m);
            }
            return;
        }
        if ((cmd & CREATE) != 0) {
            if (!reply) {
                if (t != null) {
                    violation(Violation.DUPLICATE_CREATE, m);
                } else if (m.msgid() == 0) {
                    violation(Violation.ZERO_MSGID, m);
                } else {
                    accept(c, m);
                }
            } else if (t == null) {
                rejectOrDiscard(Violation.UNKNOWN_MSGID, m);
            } else if (t.state().rx != Phase.IDLE) {
                rejectOrDiscard(Violation.DUPLICATE_CREATE, m);
            } else {
                deliver(t, m);
            }
            return;
        }
        // DELETE without CREATE.
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

    /** The counter shared by the peer's links, looked up once (the peer is known from the start). */
    private AtomicInteger peerTransactionsCounter() {
        if (!peerCounterLooked) {
            peerCounterLooked = true;
            peerCounter = transport.peerTransactions();
        }
        return peerCounter;
    }

    private boolean peerCounterLooked;
    private AtomicInteger peerCounter;

    private void releasePeerWide() {
        AtomicInteger c = peerTransactionsCounter();
        if (c != null) {
            c.decrementAndGet();
        }
    }

    /**
     * Before the peer's LNK_AUTH: PAD is ignored, AUTH is checked against the identity the TLS
     * handshake established (docs/SECURITY.md §4), anything else closes the link. Returns whether
     * {@code m} may go on to the normal rules (never: AUTH and PAD are consumed here).
     */
    private boolean authenticate(Message m) {
        int base = m.baseCmd();
        boolean oneWay = (m.cmd() & (CREATE | DELETE | ABORT | REPLY)) == 0;
        if (base == Dmsg.LNK_PAD && oneWay) {
            return false;
        }
        if (base != Dmsg.LNK_AUTH || !oneWay || m.circuit() != 0) {
            fail("traffic before AUTH: " + FrameLog.line(FrameLog.RECEIVED, m));
            return false;
        }
        PeerIdentity peer = transport.peer();
        LnkAuth auth = m.ext(LnkAuth.class);
        String refusal = auth == null ? "LNK_AUTH without its body" : Auth.refusal(auth, peer);
        if (refusal != null) {
            fail("LNK_AUTH refused: " + refusal);
            return false;
        }
        authPending = false;
        AuthBody b = AuthBody.parse(auth);
        log.info("link {}: authenticated {}; it grants us {}", name, peer,
            Role.ofCode(b.role()).word());
        return false;
    }

    /**
     * The peer aborts a transaction of its own (ABORT|CREATE, or an ABORT in its direction): each
     * costs a token; an empty bucket closes the link (docs/SECURITY.md §7, CVE-2023-44487: opening
     * and at once cancelling work is cheap for the sender and not for us). False if it closed.
     */
    private boolean takeAbortToken(Message m) {
        if (abortTokens >= 1) {
            abortTokens--;
            return true;
        }
        refillAbortTokens(config.clock().getAsLong());
        if (abortTokens >= 1) {
            abortTokens--;
            return true;
        }
        fail(String.format("abusive peer: more than %d aborts of its own transactions at once, %d per second "
            + "sustained (rapid reset, CVE-2023-44487); last %s", config.abortBurst(), config.abortsPerSecond(),
            FrameLog.line(FrameLog.RECEIVED, m)));
        return false;
    }

    private void refillAbortTokens(long now) {
        double add = (now - abortRefillNanos) * config.abortsPerSecond() / 1e9;
        abortRefillNanos = now;
        if (add > 0) {
            abortTokens = Math.min(config.abortBurst(), abortTokens + add);
        }
    }

    /** With ABORT the seed asks for a silent discard (a late abort racing the close); else a violation. */
    private void rejectOrDiscard(Violation v, Message m) {
        if (m.isAbort()) {
            abortsDiscarded++;
        } else {
            violation(v, m);
        }
    }

    private void violation(Violation v, Message m) {
        long n = ++violations[v.ordinal()];
        // Log the first few of each kind, then every power of two: a flood must not flood the log.
        if (n <= 8 || Long.bitCount(n) == 1) {
            log.warn("link {}: dropped {} ({} so far): {}", name, v, n, FrameLog.line(FrameLog.RECEIVED, m));
        }
    }

    private void accept(Circuit c, Message m) {
        int icmd = m.cmd() & BASECMDMASK;
        Txn t = new Txn(this, c, m.msgid(), icmd, false);
        c.accepted.put(t.msgid, t);
        openTransactions++;
        CircuitSecurity sec = c.security;
        if (sec != null) {
            // docs/IDENTITY.md §6: an authenticated circuit's transactions are its originator's, not the neighbour's
            t.budget = sec.budget();
            if (!t.budget.tryAcquire()) {
                t.budget = null;
                refuseOverLimit(c, t, m, "its originator " + sec.peer().name() + " holds " + sec.budget().max()
                    + " transactions open on its circuits to this node (the limit)");
                return;
            }
            dispatchAccepted(c, t, m, icmd);
            return;
        }
        peerOpen++;
        t.countedOnLink = true;
        AtomicInteger acrossLinks = peerTransactionsCounter();
        int peerWide = acrossLinks == null ? 0 : acrossLinks.incrementAndGet();
        if (peerOpen > config.maxPeerTransactions() || peerWide > config.maxTransactionsPerPeer()) {
            refuseOverLimit(c, t, m, String.format("the peer holds %d transactions open here (limit %d), %d on all "
                + "its links (limit %d)", peerOpen - 1, config.maxPeerTransactions(), peerWide - 1,
                config.maxTransactionsPerPeer()));
            return;
        }
        dispatchAccepted(c, t, m, icmd);
    }

    /** docs/SECURITY.md §7: answered LIMIT, not served; the link stays up. */
    private void refuseOverLimit(Circuit c, Txn t, Message m, String why) {
        refusedOverLimit++;
        if (refusedOverLimit <= 8 || Long.bitCount(refusedOverLimit) == 1) {
            log.warn("link {}: refused {} ({} so far): {}", name, FrameLog.line(FrameLog.RECEIVED, m), refusedOverLimit, why);
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

    private void dispatchAccepted(Circuit c, Txn t, Message m, int icmd) {
        if (c == circuit0 && icmd == Dmsg.LNK_CONN) {
            acceptConn(t, m);
            return;
        }
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
            // No service for this command: NOSUPP, never for a one-way message (docs/PROFILE.md §2).
            t.handler = TransactionHandler.CLOSE_ON_DELETE;
            t.on(TxnState.Event.RECEIVED, m.cmd());
            nosuppSent++;
            log.debug("link {}: NOSUPP for {}", name, FrameLog.line(FrameLog.RECEIVED, m));
            t.replyOnLoop(Dmsg.ERR_NOSUPP, true);
            t.removeIfClosed();
            return;
        }
        t.handler = h;
        deliver(t, m);
    }

    private void oneWay(Message m) {
        int base = m.baseCmd();
        if (base == Dmsg.LNK_PING) {
            pingsReceived++;
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
            oneWayErrors++;
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
            handlerErrors++;
            log.warn("link {}: one-way handler for {} threw", name, Command.nameOf(m.cmd()), e);
        }
    }

    /** Applies a received message to {@code t}'s state and hands it to the handler. */
    private void deliver(Txn t, Message m) {
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
        handlerErrors++;
        log.warn("link {}: handler of transaction {} ({}) threw; aborting it", name,
            Long.toHexString(t.msgid), Command.nameOf(t.icmd), e);
        if (state != LinkState.CLOSED) {
            t.abortCloseOnLoop();
        }
    }

    // ------------------------------------------------------------------------------------------
    // LNK_CONN (docs/PROFILE.md §4)

    private void acceptConn(Txn t, Message m) {
        if (peerConnTxn != null) {
            violation(Violation.SECOND_CONN, m);
            t.handler = TransactionHandler.CLOSE_ON_DELETE;
            t.on(TxnState.Event.RECEIVED, m.cmd());
            t.replyOnLoop(Dmsg.ERR_PARAM, true);
            t.removeIfClosed();
            return;
        }
        peerConnTxn = t;
        peerConn = m.ext(LnkConn.class);
        t.handler = this::onPeerConn;
        deliver(t, m);
    }

    private void onPeerConn(Transaction txn, Message m) {
        Txn t = (Txn) txn;
        if (m.isCreate() && !m.isDelete() && !m.isAbort()) {
            t.result(0); // LNK_ERROR|CREATE|REPLY, error 0: accepted, stays open
            if (state == LinkState.OPENING) {
                transition(LinkState.UP, "peer LNK_CONN from " + peerLabel());
                listener.onUp(this);
            }
            return;
        }
        if (m.isDelete()) {
            if (state.isAlive()) {
                log.info("link {}: peer closed its LNK_CONN ({})", name, ErrorCode.nameOf(m.error()));
            }
            t.reply(0);
            return;
        }
        // A one-way message inside the peer's LNK_CONN: LNK_VOLCONF (docs/REFERENCE.md §3.6).
        if (m.isOneWay()) {
            OneWayHandler h = services.oneWayHandler(m.cmd());
            if (h != null) {
                h.onOneWay(this, m);
            } else {
                violation(Violation.UNKNOWN_ONE_WAY, m);
            }
        }
    }

    private void onOurConn(Transaction txn, Message m) {
        if (m.isCreate() && m.isReply() && !m.isAbort()) {
            log.debug("link {}: peer answered our LNK_CONN: {}", name, ErrorCode.nameOf(m.error()));
            listener.onConnResult(this, m.error());
        }
        if (m.isDelete()) {
            txn.reply(0);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Keepalive

    /**
     * Periodic check, driven by the transport's timer (tests call it with a fake clock): sends
     * LNK_PING after {@link LinkConfig#pingIntervalNanos()} without sending; declares the link dead
     * after {@link LinkConfig#deadTimeoutNanos()} without life. Life is any received message, or,
     * while our outbound side is backed up and we are not reading, the peer draining it. While a
     * circuit relay has paused our reading ({@link #pauseReading}) the peer's silence is ours, not
     * its: the clock does not run.
     */
    public void tick(long nowNanos) {
        if (!state.isAlive()) {
            return;
        }
        long backlog = transport.outboundBacklogBytes();
        if (backlog < lastBacklogBytes || readPauses > 0) {
            lastLifeNanos = nowNanos;
        }
        lastBacklogBytes = backlog;
        long silent = nowNanos - lastLifeNanos;
        // A legacy peer is sent no PING (docs/PROFILE.md §4) and never pings us: an idle link to it is
        // silent both ways by design, so silence proves nothing. Its death is TCP's to report
        // (EOF, a reset, SO_KEEPALIVE).
        if (silent >= config.deadTimeoutNanos() && !legacy) {
            fail(String.format("ping timeout: nothing received for %.1f s", silent / 1e9));
            return;
        }
        // Not before UP: until the peer's LNK_CONN arrives we cannot tell a 2013 node (which must
        // not be sent PING) from one of ours (docs/LEGACY.md §1); our CONN went first anyway.
        if (!legacy && state == LinkState.UP && nowNanos - lastSendNanos >= config.pingIntervalNanos()) {
            pingsSent++;
            sendNow(null, Message.of(Dmsg.LNK_PING, 0, 0, 0));
            flushNow();
            lastSendNanos = nowNanos;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Send

    /**
     * Writes {@code m} now; bookkeeping for {@code t} (may be null for one-way). Discarded unless
     * the link is OPENING or UP. Event loop only.
     */
    void sendNow(Txn t, Message m) {
        if (!state.isAlive()) {
            sendsDiscarded.increment();
            m.release();
            return;
        }
        if (t != null) {
            t.on(TxnState.Event.SENT, m.cmd());
        }
        if (m.circuit() != 0) {
            Circuit c = circuits.get(m.circuit());
            if (c != null && c.security != null && c.security.seal() != null) {
                m = c.security.seal().seal(m); // in write order: the seal's sequence is the wire's
            }
        }
        msgsOut++;
        bytesOut += FrameEncoder.frameBytes(m);
        if (config.logFrames() && log.isDebugEnabled()) {
            log.debug("{} {}", name, FrameLog.line(FrameLog.SENT, m));
        }
        transport.write(m);
        needsFlush = true;
        if (!inReadBatch && !flushScheduled) {
            flushScheduled = true;
            transport.execute(flushTask);
        }
        if (t != null) {
            t.removeIfClosed();
        }
    }

    private void flushScheduled() {
        flushScheduled = false;
        flushNow();
    }

    private void flushNow() {
        if (needsFlush) {
            needsFlush = false;
            transport.flush();
            lastSendNanos = config.clock().getAsLong();
        }
    }

    /** Counts a send dropped because the link or transaction was closed. Any thread. */
    void discardedSend() {
        sendsDiscarded.increment();
    }

    /**
     * Runs {@code action} on the event loop: now if already there, else after blocking while the
     * outbound side is over budget. {@code bytes} is what the action will queue.
     */
    void submit(int bytes, Runnable action) {
        if (transport.inEventLoop()) {
            action.run();
            return;
        }
        awaitBudget();
        queuedBytes.addAndGet(bytes);
        try {
            transport.execute(() -> {
                queuedBytes.addAndGet(-bytes);
                action.run();
                if ((bpWaiters > 0 || !writableWaiters.isEmpty()) && belowLowWater()) {
                    writableAgain();
                }
            });
        } catch (RejectedExecutionException e) {
            queuedBytes.addAndGet(-bytes);
            throw new IllegalStateException("link " + name + " is shut down (" + closeReason + ")", e);
        }
    }

    private void awaitBudget() {
        if (isWritable() || state == LinkState.CLOSED) {
            return;
        }
        bpLock.lock();
        try {
            bpWaiters++;
            while (!belowLowWater() && state != LinkState.CLOSED) {
                // The timeout is a safety net against a missed signal, not a polling loop.
                bpCondition.await(10, TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for link " + name + " to drain", e);
        } finally {
            bpWaiters--;
            bpLock.unlock();
        }
    }

    private void wakeProducers() {
        if (bpWaiters == 0) {
            return;
        }
        bpLock.lock();
        try {
            bpCondition.signalAll();
        } finally {
            bpLock.unlock();
        }
    }

    /** The transport's outbound buffer crossed a water mark. Event loop only. */
    public void writabilityChanged(boolean writable) {
        transportWritable = writable;
        if (writable && belowLowWater()) {
            writableAgain();
        }
    }

    /** Wakes blocked producers on other threads and runs the event-loop waiters. Event loop only. */
    private void writableAgain() {
        wakeProducers();
        for (int n = writableWaiters.size(); n > 0 && (belowLowWater() || state == LinkState.CLOSED); n--) {
            Runnable r = writableWaiters.poll();
            try {
                r.run();
            } catch (RuntimeException e) {
                handlerErrors++;
                log.warn("link {}: whenWritable task threw", name, e);
            }
        }
    }

    @Override
    public void whenWritable(Runnable task) {
        transport.execute(() -> {
            if (isWritable() || state == LinkState.CLOSED) {
                task.run();
            } else {
                writableWaiters.add(task);
            }
        });
    }

    // ------------------------------------------------------------------------------------------
    // Link API

    @Override
    public Transaction open(int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler) {
        if ((cmd & (CREATE | REPLY)) != 0) {
            releaseQuietly(aux);
            throw new IllegalArgumentException(String.format("open: cmd %08x must not carry CREATE or REPLY", cmd));
        }
        if (handler == null) {
            releaseQuietly(aux);
            throw new IllegalArgumentException("open: handler is null");
        }
        int bytes = checkedSize(cmd | CREATE, ext, aux);
        Txn t = newLocal(circuit0, cmd & BASECMDMASK, handler);
        submit(bytes, () -> openOnLoop(t, cmd, ext, aux));
        return t;
    }

    @Override
    public Transaction open(long circuit, int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler) {
        if (circuit == 0) {
            return open(cmd, ext, aux, handler);
        }
        if ((cmd & (CREATE | REPLY)) != 0) {
            releaseQuietly(aux);
            throw new IllegalArgumentException(String.format("open: cmd %08x must not carry CREATE or REPLY", cmd));
        }
        if (handler == null) {
            releaseQuietly(aux);
            throw new IllegalArgumentException("open: handler is null");
        }
        int bytes = checkedSize(cmd | CREATE, ext, aux);
        // The circuit table belongs to the event loop: the real one is found there.
        Txn t = newLocal(new Circuit(circuit), cmd & BASECMDMASK, handler);
        submit(bytes, () -> {
            Circuit c = circuits.get(circuit);
            if (c == null) {
                // Not (or no longer) attached: like a dead link, the handler gets LOSTLINK at once.
                releaseQuietly(aux);
                sendsDiscarded.increment();
                deliverLost(t);
                return;
            }
            t.circuit = c;
            openOnLoop(t, cmd, ext, aux);
        });
        return t;
    }

    private Txn newLocal(Circuit c, int icmd, TransactionHandler handler) {
        long msgid = nextMsgid.getAndIncrement();
        Txn t = new Txn(this, c, msgid, icmd, true);
        t.handler = handler;
        return t;
    }

    private void openOnLoop(Txn t, int cmd, ExtHeader ext, ByteBuf aux) {
        if (!state.isAlive()) {
            releaseQuietly(aux);
            sendsDiscarded.increment();
            deliverLost(t);
            return;
        }
        t.circuit.opened.put(t.msgid, t);
        openTransactions++;
        if ((cmd & DELETE) != 0 && t.circuit.id == 0 && legacy) {
            // docs/LEGACY.md: a 2013 libdmsg responder frees a transaction opened and closed in one
            // message twice (double free); toward one, CREATE and DELETE go in messages of their own.
            sendNow(t, Message.of((cmd & ~(DELETE | ABORT)) | CREATE, t.msgid, 0, 0, ext, aux));
            sendNow(t, Message.of(Dmsg.LNK_ERROR | DELETE | (cmd & ABORT), t.msgid, 0, 0));
            return;
        }
        sendNow(t, Message.of(cmd | CREATE, t.msgid, t.circuit.id, 0, ext, aux));
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
    public void sendOneWay(int cmd, ExtHeader ext, ByteBuf aux) {
        if ((cmd & (CREATE | DELETE | ABORT)) != 0) {
            releaseQuietly(aux);
            throw new IllegalArgumentException(String.format("sendOneWay: cmd %08x carries CREATE, DELETE or ABORT", cmd));
        }
        int bytes = checkedSize(cmd, ext, aux);
        submit(bytes, () -> sendNow(null, Message.of(cmd, 0, 0, 0, ext, aux)));
    }

    @Override
    public void sendOneWay(long circuit, int cmd, ExtHeader ext, ByteBuf aux) {
        if (circuit == 0) {
            sendOneWay(cmd, ext, aux);
            return;
        }
        if ((cmd & (CREATE | DELETE | ABORT)) != 0) {
            releaseQuietly(aux);
            throw new IllegalArgumentException(String.format("sendOneWay: cmd %08x carries CREATE, DELETE or ABORT", cmd));
        }
        int bytes = checkedSize(cmd, ext, aux);
        submit(bytes, () -> {
            if (!circuits.containsKey(circuit)) {
                releaseQuietly(aux); // not (or no longer) attached: discarded and counted, as on a dead link
                sendsDiscarded.increment();
                return;
            }
            sendNow(null, Message.of(cmd, 0, circuit, 0, ext, aux));
        });
    }

    /** Validates in the caller's thread, so that mistakes surface there; returns the frame size. */
    static int checkedSize(int cmd, ExtHeader ext, ByteBuf aux) {
        int auxBytes = aux == null ? 0 : aux.readableBytes();
        try {
            Message.check(cmd, ext, auxBytes);
        } catch (IllegalArgumentException e) {
            releaseQuietly(aux);
            throw e;
        }
        return Dmsg.hdrBytes(cmd) + (int) Dmsg.align(auxBytes);
    }

    static void releaseQuietly(ByteBuf b) {
        if (b != null && b.refCnt() > 0) {
            b.release();
        }
    }

    void removed(Txn t) {
        openTransactions--;
        releasePeers(t);
    }

    /** Gives back what the peer's transaction {@code t} took from its budget. */
    private void releasePeers(Txn t) {
        if (t.local) {
            return;
        }
        if (t.budget != null) {
            t.budget.release();
            t.budget = null;
        } else if (t.countedOnLink) {
            t.countedOnLink = false;
            peerOpen--;
            releasePeerWide();
        }
    }

    @Override
    public String label() {
        return config.label();
    }

    @Override
    public void denied(String what) {
        denied.increment();
        long n = denied.sum();
        if (n <= 8 || Long.bitCount(n) == 1) {
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
        LnkConn c = peerConn;
        return c != null && !c.fsLabel().isEmpty() ? c.fsLabel() : transport.remoteAddress();
    }

    @Override
    public Transaction conn() {
        return ourConn;
    }

    @Override
    public LnkConn peerConn() {
        return peerConn;
    }

    @Override
    public String remoteAddress() {
        return transport.remoteAddress();
    }

    @Override
    public LinkState state() {
        return state;
    }

    /** Why the link closed, or {@code null} while it is alive. */
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
        return transportWritable && queuedBytes.get() < config.maxQueuedBytes();
    }

    /**
     * The low-water mark for waking producers that found the link not writable: half the budget.
     * Waking them as soon as one frame's worth drains would park and unpark a producer of 64 KiB
     * frames once per frame; with the gap each wake-up buys half a budget of sends.
     */
    private boolean belowLowWater() {
        return transportWritable && queuedBytes.get() <= config.maxQueuedBytes() / 2;
    }

    @Override
    public void execute(Runnable task) {
        transport.execute(task);
    }

    public LinkConfig config() {
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
        Map<Violation, Long> v = new EnumMap<>(Violation.class);
        for (Violation x : Violation.values()) {
            if (violations[x.ordinal()] != 0) {
                v.put(x, violations[x.ordinal()]);
            }
        }
        return new LinkStats(msgsIn, bytesIn, msgsOut, bytesOut, pingsSent, pingsReceived, v,
            abortsDiscarded, nosuppSent, sendsDiscarded.sum(), handlerErrors, openTransactions, messagesRelayed,
            messagesForwarded, oneWayErrors, denied.sum(), refusedOverLimit, sealFailures);
    }

    @Override
    public String toString() {
        return "Link[" + name + " " + state + "]";
    }
}
