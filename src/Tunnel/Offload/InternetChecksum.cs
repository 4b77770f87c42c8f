using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Perf.Tunnel.Offload;

/// <summary>
/// The Internet checksum (RFC 1071): a ones'-complement sum of 16-bit words. Sums are kept as a 64-bit total of
/// native-order 32-bit words; the ones'-complement sum does not depend on byte order (RFC 1071 2(B)), so the folded
/// total stored in native order is the right field in network order. Every span added must start at an even offset of
/// what the checksum covers.
/// </summary>
internal static class InternetChecksum
{
    /// <summary>Adds <paramref name="data"/> to <paramref name="sum"/>; vectorised, about 32 bytes per step.</summary>
    internal static ulong Add(ulong sum, ReadOnlySpan<byte> data)
    {
        ref byte p = ref MemoryMarshal.GetReference(data);
        nuint n = (nuint)data.Length;
        nuint i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 64)
        {
            sum += AddVector256(ref p, n & ~(nuint)63);
            i = n & ~(nuint)63;
        }
        else if (Vector128.IsHardwareAccelerated && n >= 32)
        {
            sum += AddVector128(ref p, n & ~(nuint)31);
            i = n & ~(nuint)31;
        }

        for (; i + 8 <= n; i += 8)
        {
            ulong x = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i));
            sum += (x & 0xFFFF_FFFF) + (x >> 32);
        }

        if (i + 4 <= n)
        {
            sum += Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, i));
            i += 4;
        }

        if (i + 2 <= n)
        {
            sum += Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, i));
            i += 2;
        }

        if (i < n)
        {
            // The odd last byte is the high half of a word padded with zero: in native order that is where it lands.
            byte last = Unsafe.Add(ref p, i);
            sum += BitConverter.IsLittleEndian ? last : (uint)last << 8;
        }

        return sum;
    }

    /// <summary>Adds one 16-bit field given in host order (a length, a protocol number) as the wire would carry it.</summary>
    internal static ulong AddWord(ulong sum, ushort value) => sum + (BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value);

    /// <summary>Folds a sum to 16 bits (end-around carry), in the native order the words were read in.</summary>
    internal static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        uint s = (uint)sum;
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        return (ushort)s;
    }

    /// <summary>Stores the checksum of <paramref name="sum"/> (its folded complement) in the 2-byte field.</summary>
    /// <param name="field">The checksum field.</param>
    /// <param name="sum">The sum of everything the checksum covers, the field counted as 0.</param>
    /// <param name="udp">UDP sends a computed 0 as 0xFFFF: 0 means "no checksum" there (RFC 768).</param>
    internal static void Store(Span<byte> field, ulong sum, bool udp = false)
    {
        ushort value = (ushort)~Fold(sum);
        if (udp && value == 0)
        {
            value = 0xFFFF;
        }

        MemoryMarshal.Write(field, in value);
    }

    /// <summary>True when a region whose checksum field is filled in sums to all ones: the checksum is valid.</summary>
    internal static bool IsValid(ulong sum) => Fold(sum) == 0xFFFF;

    // 32-bit lanes widened to 64 before adding: no carry is lost for any frame size; two accumulators hide the latency.
    private static ulong AddVector256(ref byte p, nuint length)
    {
        Vector256<ulong> a = Vector256<ulong>.Zero;
        Vector256<ulong> b = Vector256<ulong>.Zero;
        for (nuint i = 0; i < length; i += 64)
        {
            Vector256<uint> x = Vector256.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref p, i)));
            Vector256<uint> y = Vector256.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref p, i + 32)));
            (Vector256<ulong> x0, Vector256<ulong> x1) = Vector256.Widen(x);
            (Vector256<ulong> y0, Vector256<ulong> y1) = Vector256.Widen(y);
            a += x0 + y0;
            b += x1 + y1;
        }

        return Vector256.Sum(a + b);
    }

    private static ulong AddVector128(ref byte p, nuint length)
    {
        Vector128<ulong> a = Vector128<ulong>.Zero;
        Vector128<ulong> b = Vector128<ulong>.Zero;
        for (nuint i = 0; i < length; i += 32)
        {
            Vector128<uint> x = Vector128.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref p, i)));
            Vector128<uint> y = Vector128.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref p, i + 16)));
            (Vector128<ulong> x0, Vector128<ulong> x1) = Vector128.Widen(x);
            (Vector128<ulong> y0, Vector128<ulong> y1) = Vector128.Widen(y);
            a += x0 + y0;
            b += x1 + y1;
        }

        return Vector128.Sum(a + b);
    }
}
