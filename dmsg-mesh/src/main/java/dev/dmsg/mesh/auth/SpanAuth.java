package dev.dmsg.mesh.auth;

import dev.dmsg.link.tls.ChainTrust;
import dev.dmsg.link.tls.Crypto;
import dev.dmsg.link.tls.NodeKeys;
import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.wire.DmsgProtocolException;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.SpanProof;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.security.cert.CertificateException;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Signs the spans this node originates and checks the proofs of the spans it receives
 * (docs/IDENTITY.md §3). Runs on the mesh thread; holds only a cache of signatures already
 * checked (the same proof arrives over every path).
 */
public final class SpanAuth {
    /** The outcome of checking one received span. */
    public sealed interface Verdict permits Accepted, Refused {}

    /** Accept it with this trust; {@code budgetKey} is what it counts against (docs/IDENTITY.md §6). */
    public record Accepted(SpanTrust trust, String budgetKey) implements Verdict {}

    /** Refuse it: close the span transaction with {@code error}; {@code why} names the rule. */
    public record Refused(int error, String why) implements Verdict {}

    /** How a received span's link is trusted: a configured legacy peer, or one of ours over TLS. */
    public record From(String name, boolean legacy) {}

    private final NodeKeys keys;
    private final List<byte[]> ourChain;
    private final ChainTrust trust;
    private final LongSupplier wallMillis;
    private final Map<String, Boolean> checked = new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> e) {
            return size() > 4096;
        }
    };
    private long signatures;
    private long verifications;

    /**
     * @param keys this node's keys (its spans are signed with them)
     * @param trust who this node trusts (its own key, pins, a CA)
     * @param wallMillis the wall clock, for a proof's {@code issued_ms} (shown, never trusted)
     */
    public SpanAuth(NodeKeys keys, ChainTrust trust, LongSupplier wallMillis) {
        this.keys = keys;
        this.ourChain = Crypto.der(keys.chain());
        this.trust = trust;
        this.wallMillis = wallMillis;
    }

    /** The label a span advertises (§3.2): {@code cl_label} up to '/' for PEER_BLOCK, else {@code fs_label}. */
    public static String owner(LnkSpan span) {
        if (span.peerType() == Dmsg.PEER_BLOCK) {
            int slash = span.clLabel().indexOf('/');
            return slash < 0 ? span.clLabel() : span.clLabel().substring(0, slash);
        }
        return span.fsLabel();
    }

    /**
     * Whether a key named {@code signer} may advertise {@code owner} (§3.2): its own name, or a
     * name below it — {@code alpha.blk.4242}, the guest node a tool runs with alpha's identity.
     */
    public static boolean owns(String signer, String owner) {
        return owner.equals(signer) || (owner.startsWith(signer + ".") && !signer.isEmpty());
    }

    /** The proof for a span this node originates. */
    public byte[] sign(LnkSpan span) {
        return proof(0, span);
    }

    /** The proof with which this node lets a legacy (unsigned) span into the mesh (§3.4). */
    public byte[] vouch(LnkSpan span) {
        return proof(SpanProof.VOUCH, span);
    }

    private byte[] proof(int flags, LnkSpan span) {
        long issued = wallMillis.getAsLong();
        byte[] sig = Crypto.sign(keys.privateKey(), SpanProof.signedBytes(flags, issued, ourChain, span));
        signatures++;
        ByteBuf b = new SpanProof(flags, issued, ourChain, sig).encode();
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        return out;
    }

    /** Our own trust for the spans we advertise. */
    public SpanTrust self() {
        return SpanTrust.self(keys.label(), keys.fingerprint());
    }

    /**
     * Checks a span received from {@code from} with {@code proof} (its aux; null without one).
     */
    public Verdict check(From from, LnkSpan span, byte[] proof) {
        String owner = owner(span);
        if (proof == null || !SpanProof.present(Unpooled.wrappedBuffer(proof))) {
            if (from.legacy()) {
                return new Accepted(new SpanTrust(SpanTrust.Kind.LEGACY, from.name(), ""), "legacy@" + from.name());
            }
            return new Refused(Dmsg.ERR_PERM, "an unsigned span for '" + owner + "': our nodes sign every span "
                + "they originate, and only a configured legacy peer may send one unsigned (docs/IDENTITY.md §3.3)");
        }
        SpanProof p;
        try {
            p = SpanProof.parse(Unpooled.wrappedBuffer(proof));
        } catch (DmsgProtocolException e) {
            return new Refused(Dmsg.ERR_PARAM, e.getMessage());
        }
        ChainTrust.Answer who;
        try {
            who = trust.identify(p.chain(), "a span proof");
        } catch (CertificateException e) {
            return new Refused(Dmsg.ERR_PERM, "span for '" + owner + "': " + e.getMessage());
        }
        if (!who.trusted() && !who.refusal().isUnknown()) {
            return new Refused(Dmsg.ERR_PERM, "span for '" + owner + "': " + who.refusal().getMessage());
        }
        String signerName = who.trusted() ? who.identity().name() : who.claimedName();
        String signerId = who.fingerprint();
        if (p.vouch()) {
            if (!who.trusted()) {
                return new Refused(Dmsg.ERR_PERM, "span for '" + owner + "' vouched for by a key not trusted here ("
                    + signerId + ", claims '" + signerName + "')");
            }
            String clash = pinnedElsewhere(owner, null);
            if (clash != null) {
                return new Refused(Dmsg.ERR_PERM, "legacy span vouched for by '" + signerName + "' names '" + owner
                    + "', a node trusted here with " + clash);
            }
        } else if (!owns(signerName, owner)) {
            return new Refused(Dmsg.ERR_PERM, "span names '" + owner + "' but is signed by '" + signerName + "' ("
                + signerId + "): a node may advertise only itself and its exports");
        } else if (!who.trusted()) {
            String clash = pinnedElsewhere(owner, signerId);
            if (clash != null) {
                return new Refused(Dmsg.ERR_PERM, "span claims '" + owner + "', trusted here with " + clash
                    + ", but is signed by " + signerId);
            }
        }
        if (!validSignature(who, p, span)) {
            return new Refused(Dmsg.ERR_PERM, "span for '" + owner + "': the signature of " + signerId + " ('"
                + signerName + "') does not match the span");
        }
        if (p.vouch()) {
            return new Accepted(new SpanTrust(SpanTrust.Kind.LEGACY, "via " + signerName, signerId), signerId);
        }
        if (who.trusted()) {
            return new Accepted(new SpanTrust(SpanTrust.Kind.VERIFIED, signerName, signerId), signerId);
        }
        return new Accepted(new SpanTrust(SpanTrust.Kind.UNVERIFIED, signerName, signerId), "unverified@" + from.name());
    }

    /** The key {@code name} is trusted with here, if it is and is not {@code exceptId}; else null. */
    private String pinnedElsewhere(String name, String exceptId) {
        PeerIdentity p = trust.policy().byName(name);
        return p != null && !p.fingerprint().equals(exceptId) ? p.fingerprint() : null;
    }

    private boolean validSignature(ChainTrust.Answer who, SpanProof p, LnkSpan span) {
        byte[] signed = p.signedBytes(span);
        String key = Base64.getEncoder().encodeToString(Crypto.sha256(signed, p.sig()));
        Boolean known = checked.get(key);
        if (known != null) {
            return known;
        }
        verifications++;
        boolean ok = Crypto.verify(who.chain()[0].getPublicKey(), signed, p.sig());
        checked.put(key, ok);
        return ok;
    }

    /** Proofs made, signatures checked (the rest came from the cache). */
    public long signatures() {
        return signatures;
    }

    public long verifications() {
        return verifications;
    }
}
