using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Perf.Batch;

/// <summary>
/// The frame that carries one datagram through a pipe (little-endian):
/// <code>
/// offset 0  u32  payload length, 1 to 65507
/// offset 4  u32  priority
/// offset 8  u8   destination kind: 0 none (connected sender), 4 IPv4, 6 IPv6
/// offset 9  u8   reserved, 0 (3 bytes)
/// offset 12      destination: IPv4 = 4 address bytes + u16 port (big-endian);
///                IPv6 = 16 address bytes + u16 port (big-endian) + u32 scope id (little-endian)
/// then           the payload
/// </code>
/// </summary>
public static class DatagramFrame
{
    /// <summary>Bytes before the destination.</summary>
    public const int HeaderSize = 12;

    internal const byte KindNone = 0;
    internal const byte KindV4 = 4;
    internal const byte KindV6 = 6;
    internal const int V4Size = 6;
    internal const int V6Size = 22;
    internal const int MaxPayload = SlotLayout.MaxUdpPayload;

    /// <summary>Frames a datagram for a connected sender into <paramref name="writer"/> (call FlushAsync on it to publish).</summary>
    public static void Write(PipeWriter writer, ReadOnlySpan<byte> payload, uint priority) =>
        WriteCore(writer, payload, priority, default);

    /// <summary>Frames a datagram with its own destination into <paramref name="writer"/>.</summary>
    public static void Write(PipeWriter writer, ReadOnlySpan<byte> payload, uint priority, in DatagramAddress destination)
    {
        if (destination.IsEmpty)
        {
            ThrowHelper.ThrowArgument("The destination is empty; use the overload without one for a connected sender.", nameof(destination));
        }

        WriteCore(writer, payload, priority, destination);
    }

    private static void WriteCore(PipeWriter writer, ReadOnlySpan<byte> payload, uint priority, in DatagramAddress destination)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if ((uint)(payload.Length - 1) >= MaxPayload)
        {
            ThrowHelper.ThrowArgument("A framed payload is 1 to 65507 bytes, not " + payload.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".", nameof(payload));
        }

        int destSize = destination.AddressFamily switch
        {
            AddressFamily.InterNetwork => V4Size,
            AddressFamily.InterNetworkV6 => V6Size,
            _ => 0,
        };
        int total = HeaderSize + destSize + payload.Length;
        Span<byte> f = writer.GetSpan(total);
        BinaryPrimitives.WriteUInt32LittleEndian(f, (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(f[4..], priority);
        f[8] = destSize switch { V4Size => KindV4, V6Size => KindV6, _ => KindNone };
        f[9] = f[10] = f[11] = 0;
        if (destSize != 0)
        {
            // sockaddr_in: family(2) port(2, BE) addr(4); sockaddr_in6: family(2) port(2) flowinfo(4) addr(16) scope(4).
            ReadOnlySpan<byte> sa = DatagramAddress.SockAddrOf(in destination);
            Span<byte> d = f.Slice(HeaderSize, destSize);
            if (destSize == V4Size)
            {
                sa.Slice(4, 4).CopyTo(d);
                sa.Slice(2, 2).CopyTo(d[4..]);
            }
            else
            {
                sa.Slice(8, 16).CopyTo(d);
                sa.Slice(2, 2).CopyTo(d[16..]);
                sa.Slice(24, 4).CopyTo(d[18..]);
            }
        }

        payload.CopyTo(f[(HeaderSize + destSize)..]);
        writer.Advance(total);
    }

    /// <summary>Size of the destination block for a kind byte, or -1 when the kind is not defined.</summary>
    internal static int DestinationSize(byte kind) => kind switch
    {
        KindNone => 0,
        KindV4 => V4Size,
        KindV6 => V6Size,
        _ => -1,
    };

    /// <summary>Builds the destination from its framed form (<see cref="DestinationSize"/> bytes).</summary>
    internal static unsafe DatagramAddress ReadDestination(ReadOnlySpan<byte> d)
    {
        byte* sa = stackalloc byte[DatagramAddress.SockAddrIn6Size];
        new Span<byte>(sa, DatagramAddress.SockAddrIn6Size).Clear();
        if (d.Length == V4Size)
        {
            *(ushort*)sa = Interop.AF_INET;
            d.Slice(4, 2).CopyTo(new Span<byte>(sa + 2, 2));
            d[..4].CopyTo(new Span<byte>(sa + 4, 4));
            return new DatagramAddress(sa, DatagramAddress.SockAddrInSize);
        }

        *(ushort*)sa = Interop.AF_INET6;
        d.Slice(16, 2).CopyTo(new Span<byte>(sa + 2, 2));
        d[..16].CopyTo(new Span<byte>(sa + 8, 16));
        d.Slice(18, 4).CopyTo(new Span<byte>(sa + 24, 4));
        return new DatagramAddress(sa, DatagramAddress.SockAddrIn6Size);
    }

    internal static bool TryReadHeader(in ReadOnlySequence<byte> buffer, Span<byte> header)
    {
        if (buffer.Length < HeaderSize)
        {
            return false;
        }

        buffer.Slice(0, HeaderSize).CopyTo(header);
        return true;
    }
}
