package dev.dmsg.quorum.cac;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.dmsg.quorum.cac.LockTable.Home;
import dev.dmsg.quorum.cac.LockTable.Owner;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Lock entries (docs/CAC.md §5): every kind round-trips; every malformed field is named. */
class CacEntriesTest {
    static final CacEntry.Acquire ACQ = new CacEntry.Acquire(0x1234, new LockTable.Acquire(new Owner("cli-7", 99),
        new Home("m1", 42), CacKey.of("/vol/ä/b"), CacDomain.DIRENT, CacState.MODIFIED, LockTable.BROADER_OK, 12_000));

    @Test
    void everyKindRoundTrips() throws Exception {
        List<CacEntry> all = List.of(ACQ, new CacEntry.Change(812, CacState.SHARED), new CacEntry.Release(813),
            new CacEntry.Cancel(814, LockTable.CANCEL_TIMEOUT), new CacEntry.Lost(815),
            new CacEntry.Expire(816, LockTable.EXPIRE_LOST), new CacEntry.HomeUp(new Home("m2", -5)));
        for (CacEntry e : all) {
            byte[] b = CacEntries.encode(e);
            assertThat(CacEntries.isCac(b[0])).isTrue();
            assertThat(CacEntries.decode(b)).isEqualTo(e);
        }
        byte[] rel = CacEntries.encode(new CacEntry.Release(0x0102030405060708L));
        assertThat(rel).containsExactly(12, 1, 8, 7, 6, 5, 4, 3, 2, 1);
    }

    @Test
    void malformedEntriesAreRefusedNamingTheField() {
        byte[] acq = CacEntries.encode(ACQ);
        refused(Arrays.copyOf(acq, acq.length - 1), "cut short");
        refused(Arrays.copyOf(acq, acq.length + 1), "1 trailing bytes");
        refused(with(acq, 1, 2), "version 2");
        refused(with(acq, 0, 17), "kind 17");
        byte[] ch = CacEntries.encode(new CacEntry.Change(1, CacState.SHARED));
        refused(with(ch, ch.length - 1, 4), "state 4");
        byte[] ca = CacEntries.encode(new CacEntry.Cancel(1, 1));
        refused(with(ca, ca.length - 1, 4), "CANCEL: why 4");
        byte[] ex = CacEntries.encode(new CacEntry.Expire(1, 1));
        refused(with(ex, ex.length - 1, 0), "EXPIRE: why 0");
        // the ACQUIRE's fields: domain, lease, key rules, UTF-8
        int domainAt = 2 + 8 + 8 + 2 + 5 + 2 + 2 + 8 + 1;
        refused(with(acq, domainAt, 9), "domain 9");
        refused(with(acq, domainAt + 3 + 3, 0x7f), "lease_ms");
        byte[] badKey = CacEntries.encode(new CacEntry.Acquire(1, new LockTable.Acquire(new Owner("a", 0),
            new Home("m", 1), CacKey.of("/ab"), CacDomain.TREE, CacState.SHARED, 0, 0)));
        refused(with(badKey, badKey.length - 1, '/'), "ends with /");
        refused(with(badKey, badKey.length - 1, 0xff), "key is not UTF-8");
        assertThatThrownBy(() -> CacEntries.encode(new CacEntry.HomeUp(new Home("m".repeat(256), 1))))
            .isInstanceOf(IllegalArgumentException.class).hasMessage("home is 256 bytes; max 255");
    }

    @Test
    void randomBytesNeverDecodeToSomethingElseThanAnEntryOrARefusal() {
        Random r = new Random(3);
        byte[] acq = CacEntries.encode(ACQ);
        for (int i = 0; i < 20_000; i++) {
            byte[] b = acq.clone();
            b[r.nextInt(b.length)] = (byte) r.nextInt(256);
            try {
                CacEntry e = CacEntries.decode(b);
                assertThat(CacEntries.decode(CacEntries.encode(e))).isEqualTo(e);
            } catch (CacFormatException ok) {
                assertThat(ok.getMessage()).isNotBlank();
            }
        }
    }

    static byte[] with(byte[] b, int at, int v) {
        byte[] c = b.clone();
        c[at] = (byte) v;
        return c;
    }

    static void refused(byte[] b, String why) {
        assertThatThrownBy(() -> CacEntries.decode(b)).isInstanceOf(CacFormatException.class).hasMessageContaining(why);
    }
}
