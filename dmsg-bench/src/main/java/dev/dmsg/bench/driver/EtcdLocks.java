package dev.dmsg.bench.driver;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * etcd's lock service (etcd's {@code server/etcdserver/api/v3lock}: a key {@code NAME/LEASE} put
 * under the lease, granted when every older key under {@code NAME/} is gone) through its v3
 * HTTP/JSON gateway, for {@code bench lock} (docs/BENCHMARKS.md, "Locks (issue 17)").
 *
 * <p>The paths, tried against Debian's etcd 3.4.23: {@code POST /v3/lock/lock} {@code {"name":
 * base64, "lease": ID}} answers {@code {"key": base64}} once held, {@code POST /v3/lock/unlock}
 * {@code {"key": …}} releases (3.4's gateway also answers them under {@code /v3beta/}, not
 * {@code /v3alpha/}); {@code /v3/lease/grant}, {@code /v3/lease/keepalive} (one request, one
 * answer), {@code /v3/lease/revoke}; and {@code POST /v3/watch}, whose answer is a stream of JSON
 * lines, one per watch response, the first {@code "created": true}.
 *
 * <p>A {@link Session} is one client: one lease for all its locks, kept alive at a third of its
 * TTL, as {@code etcdctl lock}'s session (etcd's {@code client/v3/concurrency/session.go}) does.
 * Two locks of one lease on one name are one key, so contending clients need sessions of their own.
 */
final class EtcdLocks implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Base64.Encoder B64 = Base64.getEncoder();
    /** etcdctl lock's default session TTL, and our locks' default lease (docs/CAC.md §2). */
    static final int TTL_SECONDS = 10;

    private final EtcdAnchor etcd;
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
    private final ScheduledExecutorService keepAlives = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "etcd-lease-keepalive");
        t.setDaemon(true);
        return t;
    });

    EtcdLocks(EtcdAnchor etcd) {
        this.etcd = etcd;
    }

    /** A held lock: its key (base64, as etcd gave it) and the store's revision when it was granted. */
    record Held(String key, long revision) {}

    static String b64(String s) {
        return B64.encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    /** A new client with a lease of its own, kept alive until {@link Session#close}. */
    Session session() throws Exception {
        JsonNode r = JSON.readTree(etcd.post(etcd.leader(), "/v3/lease/grant", "{\"TTL\":" + TTL_SECONDS + "}")
            .get(10, TimeUnit.SECONDS));
        String id = r.path("ID").asText("");
        if (id.isEmpty()) {
            throw new IllegalStateException("etcd /v3/lease/grant gave no ID: " + r);
        }
        return new Session(id);
    }

    final class Session implements AutoCloseable {
        private final String lease;
        private final ScheduledFuture<?> keepAlive;

        private Session(String lease) {
            this.lease = lease;
            long every = TimeUnit.SECONDS.toMillis(TTL_SECONDS) / 3;
            this.keepAlive = keepAlives.scheduleAtFixedRate(() -> etcd.post(etcd.leader(), "/v3/lease/keepalive",
                "{\"ID\":\"" + lease + "\"}"), every, every, TimeUnit.MILLISECONDS);
        }

        /** Waits for the lock named {@code name} (etcd's own wait, in its server); completes once held. */
        CompletableFuture<Held> lock(String name) {
            return etcd.post(etcd.leader(), "/v3/lock/lock", "{\"name\":\"" + b64(name) + "\",\"lease\":\"" + lease + "\"}")
                .thenApply(body -> {
                    try {
                        JsonNode r = JSON.readTree(body);
                        String key = r.path("key").asText("");
                        if (key.isEmpty()) {
                            throw new IllegalStateException("etcd /v3/lock/lock gave no key: " + body);
                        }
                        return new Held(key, r.path("header").path("revision").asLong());
                    } catch (IOException e) {
                        throw new IllegalStateException("etcd /v3/lock/lock: " + body, e);
                    }
                });
        }

        CompletableFuture<String> unlock(Held h) {
            return etcd.post(etcd.leader(), "/v3/lock/unlock", "{\"key\":\"" + h.key + "\"}");
        }

        /** Stops the keep-alive and revokes the lease (its keys go with it). */
        @Override
        public void close() throws Exception {
            keepAlive.cancel(false);
            etcd.post(etcd.leader(), "/v3/lease/revoke", "{\"ID\":\"" + lease + "\"}").get(10, TimeUnit.SECONDS);
        }
    }

    /**
     * Watches every key under {@code prefix}: {@code onEvent} gets each event ({@code kv}, and
     * {@code type} "DELETE" for a delete; absent for a put), in revision order, on the HTTP
     * client's threads. Returns once etcd said the watch is created.
     */
    Watch watch(String prefix, Consumer<JsonNode> onEvent) throws Exception {
        String end = b64(prefix.substring(0, prefix.length() - 1) + (char) (prefix.charAt(prefix.length() - 1) + 1));
        HttpRequest r = HttpRequest.newBuilder(etcd.leader().resolve("/v3/watch"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{\"create_request\":{\"key\":\"" + b64(prefix) + "\",\"range_end\":\""
                + end + "\"}}")).build();
        Watch w = new Watch(onEvent);
        http.sendAsync(r, HttpResponse.BodyHandlers.fromLineSubscriber(w)).whenComplete((resp, e) -> {
            if (e != null) {
                w.created.completeExceptionally(e);
            } else if (resp.statusCode() != 200) {
                w.created.completeExceptionally(new IllegalStateException("etcd /v3/watch: HTTP " + resp.statusCode()));
            }
        });
        w.created.get(10, TimeUnit.SECONDS);
        return w;
    }

    /** One watch stream: a line of JSON per watch response. {@link #close} cancels it (the connection goes). */
    static final class Watch implements Flow.Subscriber<String>, AutoCloseable {
        private final Consumer<JsonNode> onEvent;
        final CompletableFuture<Void> created = new CompletableFuture<>();
        private volatile Flow.Subscription subscription;

        private Watch(Consumer<JsonNode> onEvent) {
            this.onEvent = onEvent;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            s.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(String line) {
            if (line.isBlank()) {
                return;
            }
            try {
                JsonNode r = JSON.readTree(line).path("result");
                if (r.path("created").asBoolean(false)) {
                    created.complete(null);
                }
                for (JsonNode ev : r.path("events")) {
                    onEvent.accept(ev);
                }
            } catch (IOException e) {
                created.completeExceptionally(new IllegalStateException("etcd /v3/watch: not JSON: " + line, e));
            }
        }

        @Override
        public void onError(Throwable t) {
            created.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            created.completeExceptionally(new IllegalStateException("etcd /v3/watch ended before it was created"));
        }

        @Override
        public void close() {
            Flow.Subscription s = subscription;
            if (s != null) {
                s.cancel();
            }
        }
    }

    @Override
    public void close() {
        keepAlives.shutdownNow();
    }
}
