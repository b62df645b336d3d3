package dev.dmsg.services.cac;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.Grants;
import dev.dmsg.link.tls.Role;
import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacKey;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.services.Access;
import dev.dmsg.services.quorum.GroupEngine;
import dev.dmsg.wire.CacHeader;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A member's lock service (docs/CAC.md §3, §8): the acceptor of CAC_LOCK. A REQUEST is checked in
 * order — its header, the group, the originator's rights (the circuit's originator, not the
 * neighbour: {@link Access}), the key, state and domain, the originator's budget — and refused
 * with the specific error at the first that fails; otherwise this member becomes the lock's home
 * ({@link GroupHome}, {@link LockSession}). A LIST answers the group's locks under a prefix as
 * this member's state shows them.
 */
public final class CacServer {
    private static final Logger log = LoggerFactory.getLogger(CacServer.class);
    static final ObjectMapper JSON = new ObjectMapper();
    /** At most this many locks in one LIST answer (the aux limit); the answer says when it was cut. */
    static final int MAX_LISTED = 200;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Access access;
    private final Map<String, GroupHome> homes = new LinkedHashMap<>();
    private final CacBudgets budgets;
    private final Map<String, AtomicLong> refusals = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timers;
    private ScheduledFuture<?> checks;
    static final long HOME_CHECK_MILLIS = 500;

    /**
     * The lock service of member {@code label} for {@code groups}; {@code timers} runs wait
     * timeouts and retries. A new incarnation is drawn for each server (each start of the member).
     */
    public CacServer(String label, Access access, Map<String, GroupEngine> groups, ScheduledExecutorService timers) {
        this(label, RANDOM.nextLong(), access, groups, timers, CacBudgets.defaults());
    }

    CacServer(String label, long incarnation, Access access, Map<String, GroupEngine> groups,
              ScheduledExecutorService timers, CacBudgets budgets) {
        this.access = access;
        this.budgets = budgets;
        this.timers = timers;
        LockTable.Home self = new LockTable.Home(label, incarnation);
        groups.forEach((name, g) -> homes.put(name, new GroupHome(g, self, budgets, timers)));
    }

    /**
     * Listens to every group's log, announces this incarnation, takes CAC_LOCK in {@code services},
     * and, where this member leads, looks for silent homes every {@value #HOME_CHECK_MILLIS} ms.
     */
    public void start(Services services) {
        homes.values().forEach(GroupHome::start);
        services.accept(Dmsg.CAC_LOCK, this::accept);
        checks = timers.scheduleWithFixedDelay(() -> homes.values().forEach(h -> {
            try {
                h.checkHomes(System.nanoTime());
            } catch (RuntimeException e) {
                log.warn("cac: checking homes of {} failed", h.engine().name(), e);
            }
        }), HOME_CHECK_MILLIS, HOME_CHECK_MILLIS, TimeUnit.MILLISECONDS);
    }

    public void close() {
        if (checks != null) {
            checks.cancel(false);
        }
        homes.values().forEach(GroupHome::close);
    }

    /** Refusals by error name, for the status document. */
    public Map<String, Long> refusals() {
        Map<String, Long> out = new TreeMap<>();
        refusals.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    /**
     * The status document's {@code locks} section (docs/OPERATIONS.md): lock transactions open
     * here, refusals by error, and per group what this member's copy of the table holds.
     */
    public record Status(int sessions, Map<String, Long> refusals, List<GroupLocks> groups) {}

    /** One group's locks as this member's state shows them; {@code home_sessions}: transactions whose home is here. */
    public record GroupLocks(String name, int locks, int held, int waiting, int leased, int homeSessions) {}

    public Status status() {
        List<GroupLocks> gs = new ArrayList<>();
        homes.forEach((name, h) -> {
            LockTable.Counts c = h.engine().locks(LockTable::counts);
            gs.add(new GroupLocks(name, c.locks(), c.held(), c.waiting(), c.leased(), h.sessions()));
        });
        return new Status(sessions(), refusals(), gs);
    }

    /** Lock transactions open here, over all groups. */
    public int sessions() {
        return homes.values().stream().mapToInt(GroupHome::sessions).sum();
    }

    private TransactionHandler accept(Transaction t, Message create) {
        CacHeader h = create.ext() instanceof CacHeader c ? c : null;
        String problem = h == null ? "no CAC header" : h.problem();
        if (problem != null) {
            return refused(t, "", Dmsg.ERR_PARAM, problem);
        }
        if (h.phase() != CacHeader.REQUEST && h.phase() != CacHeader.LIST) {
            return refused(t, h.group(), h.phase() > CacHeader.LIST || h.phase() == 0 ? Dmsg.ERR_NOSUPP : Dmsg.ERR_PARAM,
                "a CAC_LOCK opens with REQUEST or LIST, not " + CacHeader.phaseName(h.phase()));
        }
        GroupHome home = homes.get(h.group());
        if (home == null) {
            return refused(t, h.group(), Dmsg.ERR_NOSUPP, "this node is not a member of quorum group '" + h.group() + "'");
        }
        Access.Principal who = access.principal(t.link(), t.circuit());
        boolean list = h.phase() == CacHeader.LIST;
        if (!allowed(who, list ? Grants.LOCK_READ : Grants.LOCK)) {
            return refused(t, h.group(), Dmsg.ERR_PERM, who.describe() + " may not " + (list ? "list" : "take")
                + " locks of quorum group " + h.group() + (who.role() == Role.CLIENT ? " (needs the "
                + (list ? "lock-read" : "lock") + " grant)" : ""));
        }
        String text = create.aux() == null ? "" : create.aux().toString(StandardCharsets.UTF_8);
        if (list) {
            return list(t, h, home, text);
        }
        if (create.isDelete()) { // a lock nobody could release or be told about: refused, not recorded
            return refused(t, h.group(), Dmsg.ERR_PARAM, "a lock REQUEST keeps its transaction open (no DELETE with "
                + "the CREATE): the transaction is the lock");
        }
        String why = CacKey.problem(text);
        CacState state = CacState.of(h.state());
        CacDomain domain = CacDomain.of(h.domain());
        if (why == null && (state == null || state == CacState.INVAL)) {
            why = "a lock request asks for SHARED, EXCLUSIVE or MODIFIED, not " + CacHeader.stateName(h.state());
        }
        if (why == null && domain == null) {
            why = "lock domain " + h.domain() + " is not one of TREE, INUM, ATTR, DIRENT";
        }
        if (why == null && Integer.toUnsignedLong(h.leaseMs()) > LockTable.MAX_LEASE_MS) {
            why = "lease_ms " + Integer.toUnsignedLong(h.leaseMs()) + " is over " + LockTable.MAX_LEASE_MS;
        }
        if (why != null) {
            return refused(t, h.group(), Dmsg.ERR_PARAM, why);
        }
        String originator = who.fingerprint() + "/" + who.name();
        String over = budgets.take(originator);
        if (over != null) {
            return refused(t, h.group(), Dmsg.ERR_LIMIT, over);
        }
        LockTable.Acquire a = new LockTable.Acquire(new LockTable.Owner(who.name(), h.owner()), home.self(),
            CacKey.of(text), domain, state, h.flags(), h.leaseMs());
        LockSession s = new LockSession(home, t, h, a, originator, RANDOM.nextLong());
        home.open(s);
        return s;
    }

    static boolean allowed(Access.Principal who, int grant) {
        return who.role() == Role.ADMIN || who.role() == Role.MEMBER
            || who.role() == Role.CLIENT && (who.grants() & grant) != 0;
    }

    /**
     * The group's locks under {@code prefix} as JSON (docs/CAC.md §8): {@code {"group", "locks":
     * [{"id", "key", "domain", "owner", "home", "held", "wanted", "token", "downgrade_to", "lost"}],
     * "truncated"}}, at most {@value #MAX_LISTED} locks, as this member's state shows them.
     */
    private TransactionHandler list(Transaction t, CacHeader h, GroupHome home, String prefix) {
        List<LockTable.LockView> all = home.engine().locks(tb -> tb.list(prefix));
        ObjectNode doc = JSON.createObjectNode().put("group", h.group());
        ArrayNode arr = doc.putArray("locks");
        for (LockTable.LockView v : all.subList(0, Math.min(all.size(), MAX_LISTED))) {
            ObjectNode o = arr.addObject().put("id", v.id()).put("key", v.key().path()).put("domain", v.domain().word())
                .put("owner", v.owner().name() + (v.owner().id() == 0 ? "" : "#" + Long.toHexString(v.owner().id())))
                .put("home", v.home().name()).put("held", v.held().word())
                .put("token", v.token()).put("lost", v.lost());
            o.put("wanted", v.wanted() == null ? null : v.wanted().word());
            o.put("downgrade_to", v.downgradeTo() == null ? null : v.downgradeTo().word());
        }
        doc.put("truncated", all.size() > MAX_LISTED);
        byte[] aux = doc.toString().getBytes(StandardCharsets.UTF_8);
        CacHeader reply = CacHeader.of(CacHeader.LIST, h.group());
        t.link().execute(() -> t.send(Dmsg.CAC_LOCK | Dmsg.DELETE, reply, Unpooled.wrappedBuffer(aux)));
        return (tx, m) -> { };
    }

    private TransactionHandler refused(Transaction t, String group, int error, String reason) {
        refusals.computeIfAbsent(ErrorCode.nameOf(error), k -> new AtomicLong()).incrementAndGet();
        log.debug("cac: refused {} on {}: {}", ErrorCode.nameOf(error), t.link().peerLabel(), reason);
        byte[] aux = LockSession.reason(reason);
        CacHeader h = CacHeader.of(0, group);
        t.link().execute(() -> t.send(Dmsg.CAC_LOCK | Dmsg.DELETE, error, h, Unpooled.wrappedBuffer(aux)));
        return (tx, m) -> { };
    }
}
