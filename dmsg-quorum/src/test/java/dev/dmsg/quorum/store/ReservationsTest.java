package dev.dmsg.quorum.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.lists;

import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Compare;
import dev.dmsg.wire.qrm.Op;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.quicktheories.core.Gen;
import org.quicktheories.core.RandomnessSource;
import org.quicktheories.impl.Constraint;

/**
 * {@link Reservations}' two-lookup overlap checks against the definition, checked pair by pair
 * (docs/QUORUM.md §4: key = key, key under prefix, prefix under prefix), over random batches on a
 * three-letter alphabet so that keys and prefixes nest often.
 */
class ReservationsTest {
    static Blob blob(RandomnessSource r, int min) {
        int n = (int) r.next(Constraint.between(min, 4));
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) "ab/".charAt((int) r.next(Constraint.between(0, 2)));
        }
        return Blob.wrap(b);
    }

    /** One batch's claims: a few compared keys and ops, some with PREFIX. */
    static final Gen<Reservations.Claims> CLAIMS = r -> {
        List<Compare> cs = new ArrayList<>();
        List<Op> ops = new ArrayList<>();
        for (long i = r.next(Constraint.between(0, 2)); i > 0; i--) {
            cs.add(Compare.number(Compare.Target.VERSION, blob(r, 1), Compare.Result.EQUAL, 0));
        }
        for (long i = r.next(Constraint.between(0, 3)); i > 0; i--) {
            ops.add(r.next(Constraint.between(0, 1)) == 0 ? Op.get(blob(r, 1)) : Op.deletePrefix(blob(r, 0)));
        }
        return Reservations.claims(cs, ops);
    };

    static boolean overlaps(Reservations.Claims a, Reservations.Claims b) {
        for (Blob k : a.keys()) {
            if (b.keys().contains(k) || b.prefixes().stream().anyMatch(k::startsWith)) {
                return true;
            }
        }
        for (Blob p : a.prefixes()) {
            if (b.keys().stream().anyMatch(k -> k.startsWith(p))
                || b.prefixes().stream().anyMatch(q -> q.startsWith(p) || p.startsWith(q))) {
                return true;
            }
        }
        return false;
    }

    static boolean overlapsAt(Blob ours, boolean prefix, Reservations.Claims theirs) {
        Reservations.Claims one = prefix ? new Reservations.Claims(List.of(), List.of(ours)) : new Reservations.Claims(List.of(ours), List.of());
        return overlaps(one, theirs);
    }

    @Test
    void overlapAgreesWithTheDefinition() {
        qt().withExamples(2000).forAll(lists().of(CLAIMS).ofSizeBetween(1, 30))
            .checkAssert(batches -> {
                Reservations res = new Reservations();
                List<Reservations.Claims> held = new ArrayList<>();
                long index = 0;
                for (Reservations.Claims c : batches) {
                    index++;
                    boolean want = held.stream().anyMatch(h -> overlaps(c, h));
                    Reservations.Overlap got = res.overlap(c);
                    assertThat(got != null).as("%s against %s", c, held).isEqualTo(want);
                    if (got != null) {
                        Reservations.Claims owner = held.get((int) got.ownerIndex() - 1);
                        boolean isPrefix = c.prefixes().contains(got.key()) && !c.keys().contains(got.key());
                        assertThat(overlapsAt(got.key(), isPrefix, owner)).as("named %s", got).isTrue();
                        held.add(new Reservations.Claims(List.of(), List.of()));   // index keeps counting
                    } else {
                        res.reserve(c, index);
                        held.add(c);
                    }
                    // now and then one batch finishes
                    if (index % 3 == 0 && !held.isEmpty()) {
                        int i = (int) (index / 3) % held.size();
                        res.release(held.get(i));
                        held.set(i, new Reservations.Claims(List.of(), List.of()));
                    }
                }
            });
    }

    @Test
    void claimsAreNormalised() {
        Reservations.Claims c = Reservations.claims(
            List.of(Compare.number(Compare.Target.VERSION, Blob.utf8("/a/x"), Compare.Result.EQUAL, 0)),
            List.of(Op.deletePrefix(Blob.utf8("/a/")), Op.getPrefix(Blob.utf8("/a"), 0), Op.put(Blob.utf8("/b"), Blob.EMPTY),
                Op.getPrefix(Blob.utf8("/b/"), 0)));
        assertThat(c.keys()).containsExactly(Blob.utf8("/b"));
        assertThat(c.prefixes()).containsExactly(Blob.utf8("/a"), Blob.utf8("/b/"));
    }
}
