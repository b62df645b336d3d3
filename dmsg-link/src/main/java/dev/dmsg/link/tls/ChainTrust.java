package dev.dmsg.link.tls;

import java.nio.ByteBuffer;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * {@link TrustPolicy#identify} for chains that arrive as DER over the mesh — span proofs and
 * circuit hellos (docs/IDENTITY.md) — with a trusted answer remembered for a second: the same
 * chain comes with every span a node originates and every circuit it opens, and the policy (pins,
 * CA, revocations) is itself re-read at most once a second, so a revocation counts within about
 * two. Refusals are not remembered. Bounded (least recently used first out). Thread-safe.
 */
public final class ChainTrust {
    /** What a chain is here: its certificates, and who it is ({@code identity}) or why not ({@code refusal}). */
    public record Answer(X509Certificate[] chain, PeerIdentity identity, Refusal refusal) {
        public boolean trusted() {
            return identity != null;
        }

        /** The leaf's CN: the name the chain claims. */
        public String claimedName() {
            return chain.length == 0 ? "" : NodeKeys.commonNameOrEmpty(chain[0]);
        }

        /** The leaf key's fingerprint. */
        public String fingerprint() {
            return Fingerprints.of(chain[0].getPublicKey());
        }
    }

    private final TrustPolicy policy;
    private final LongSupplier nanoClock;
    private final long ttlNanos;
    private final int maxEntries;
    private final Map<Key, Entry> cache;

    private record Key(byte[] hash) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(hash, k.hash);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(hash);
        }
    }

    private record Entry(Answer answer, long expiresNanos) {}

    public ChainTrust(TrustPolicy policy, LongSupplier nanoClock) {
        this(policy, nanoClock, 1_000_000_000L, 4096);
    }

    public ChainTrust(TrustPolicy policy, LongSupplier nanoClock, long ttlNanos, int maxEntries) {
        this.policy = policy;
        this.nanoClock = nanoClock;
        this.ttlNanos = ttlNanos;
        this.maxEntries = maxEntries;
        this.cache = new LinkedHashMap<>(64, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Key, Entry> e) {
                return size() > ChainTrust.this.maxEntries;
            }
        };
    }

    public TrustPolicy policy() {
        return policy;
    }

    /**
     * Who {@code der} (leaf first) is here.
     *
     * @throws CertificateException if a certificate cannot be read at all
     */
    public Answer identify(List<byte[]> der, String presentedBy) throws CertificateException {
        Key k = new Key(Crypto.sha256(concat(der)));
        long now = nanoClock.getAsLong();
        synchronized (cache) {
            Entry e = cache.get(k);
            if (e != null && now - e.expiresNanos < 0) {
                return e.answer;
            }
        }
        X509Certificate[] chain = Crypto.certificates(der);
        Answer a;
        try {
            PeerIdentity who = policy.identify(chain, presentedBy);
            a = who.role() == Role.NONE // a join request: proves a key, not membership
                ? new Answer(chain, null, Refusal.unknown("refused: '" + who.name() + "' presented a join-request "
                    + "certificate, which proves no membership"))
                : new Answer(chain, who, null);
        } catch (Refusal r) {
            a = new Answer(chain, null, r);
        }
        if (a.trusted()) {
            // Only who is trusted is remembered: a pin added, a CA installed or a revocation lifted
            // must count at once, and an unknown chain costs no more to refuse again than to look up.
            synchronized (cache) {
                cache.put(k, new Entry(a, now + ttlNanos));
            }
        }
        return a;
    }

    private static byte[] concat(List<byte[]> der) {
        int n = 0;
        for (byte[] d : der) {
            n += d.length + 4;
        }
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] d : der) {
            b.putInt(d.length).put(d);
        }
        return b.array();
    }
}
