package dev.dmsg.services.cac;

import dev.dmsg.link.Link;
import dev.dmsg.mesh.MeshNode;
import dev.dmsg.quorum.cac.CacDomain;
import dev.dmsg.quorum.cac.CacKey;
import dev.dmsg.quorum.cac.CacState;
import dev.dmsg.quorum.cac.LockTable;
import dev.dmsg.services.quorum.MemberRoute;
import dev.dmsg.services.quorum.QuorumClient;
import dev.dmsg.services.quorum.QuorumException;
import dev.dmsg.wire.CacHeader;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Cache-coherency locks of one quorum group (docs/CAC.md): {@link #acquire} opens a CAC_LOCK
 * transaction to a member — over our own link to a member if we have one, else a circuit to the
 * nearest — and the handle it gives is the lock. All locks of one {@code CacheLocks} belong to one
 * owner (our identity's name and the owner id given here), for deadlock detection. Thread-safe.
 */
public final class CacheLocks implements AutoCloseable {
    /** How a lock is asked for (docs/CAC.md §2). */
    public record Options(Duration maxWait, Duration lease, boolean broaderOk, boolean noWait) {
        public static Options defaults() {
            return new Options(Duration.ZERO, Duration.ZERO, false, false);
        }

        /** Waits at most {@code d} for the grant (zero: until granted or released). */
        public Options withWait(Duration d) {
            return new Options(d, lease, broaderOk, noWait);
        }

        public Options withLease(Duration d) {
            return new Options(maxWait, d, broaderOk, noWait);
        }

        public Options broader() {
            return new Options(maxWait, lease, true, noWait);
        }

        public Options failIfBusy() {
            return new Options(maxWait, lease, broaderOk, true);
        }
    }

    private final String group;
    private final long owner;
    private final Duration reach;
    private final MemberRoute route;

    /**
     * @param links the node's links now (a member that is our neighbour is reached over our link)
     * @param reach how long to look for a member that answers
     * @param owner this holder's owner id (docs/CAC.md §2)
     */
    public CacheLocks(MeshNode mesh, Supplier<List<Link>> links, String group, Duration reach, long owner) {
        CacHeader.of(CacHeader.REQUEST, group); // checks the name fits
        this.group = group;
        this.owner = owner;
        this.reach = reach;
        this.route = new MemberRoute(mesh, links, group, reach);
    }

    public String group() {
        return group;
    }

    /** Asks for {@code state} in {@code domain} on {@code key}; completes with the handle once it is held. */
    public CompletableFuture<LockHandle> acquire(String key, CacDomain domain, CacState state, Options o) {
        return request(key, domain, state, o).thenCompose(LockHandle::granted);
    }

    /**
     * {@link #acquire}, completing with the handle as soon as the request is sent: its
     * {@link LockHandle#waiting} says whether it waits and behind which lock, its
     * {@link LockHandle#granted} when it is held.
     */
    public CompletableFuture<LockHandle> request(String key, CacDomain domain, CacState state, Options o) {
        String bad = CacKey.problem(key);
        if (bad != null) {
            return CompletableFuture.failedFuture(new QuorumException(Dmsg.ERR_PARAM, bad));
        }
        int flags = (o.broaderOk() ? LockTable.BROADER_OK : 0) | (o.noWait() ? LockTable.NOWAIT : 0);
        CacHeader h = CacHeader.request(group, state.wire(), domain.wire(), flags, (int) o.maxWait().toMillis(),
            (int) o.lease().toMillis(), owner);
        LockHandle handle = new LockHandle(group, key);
        return route.routeWithin(System.nanoTime() + reach.toNanos()).thenApply(r -> {
            handle.opened(r.open(Dmsg.CAC_LOCK, h, Unpooled.wrappedBuffer(key.getBytes(StandardCharsets.UTF_8)), handle));
            return handle;
        });
    }

    /** {@link #acquire}, waiting for the grant; {@code timeout} bounds the whole wait (the request then gives up). */
    public LockHandle acquire(String key, CacDomain domain, CacState state, Duration timeout)
        throws QuorumException, InterruptedException {
        CompletableFuture<LockHandle> f = acquire(key, domain, state, Options.defaults().withWait(timeout));
        try {
            return f.get(timeout.toMillis() + reach.toMillis() + 5_000, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            Throwable c = QuorumClient.unwrap(e.getCause());
            throw c instanceof QuorumException q ? q : new QuorumException(Dmsg.ERR_IO, String.valueOf(c));
        } catch (TimeoutException e) {
            throw new QuorumException(Dmsg.ERR_TIMEOUT, "no answer about the lock on " + key + " within " + timeout);
        }
    }

    /** The group's locks under {@code prefix}, as JSON (docs/CAC.md §8), from the member we reach. */
    public CompletableFuture<String> list(String prefix) {
        CompletableFuture<String> out = new CompletableFuture<>();
        route.routeWithin(System.nanoTime() + reach.toNanos()).whenComplete((r, e) -> {
            if (e != null) {
                out.completeExceptionally(QuorumClient.unwrap(e));
                return;
            }
            r.open(Dmsg.CAC_LOCK | Dmsg.DELETE, CacHeader.of(CacHeader.LIST, group),
                Unpooled.wrappedBuffer(prefix.getBytes(StandardCharsets.UTF_8)), (t, m) -> {
                    if (!m.isDelete()) {
                        return;
                    }
                    if (m.error() != 0) {
                        out.completeExceptionally(new QuorumException(m.error(), m.auxString()));
                    } else {
                        out.complete(m.auxBytes() == 0 ? "" : m.aux().toString(StandardCharsets.UTF_8));
                    }
                });
        });
        return out;
    }

    @Override
    public void close() {
        route.close();
    }
}
