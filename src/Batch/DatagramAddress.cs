using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>
/// An IPv4 or IPv6 UDP endpoint held as a ready-to-use Linux sockaddr (16 or 28 bytes inline),
/// so queuing a datagram to it copies bytes and never allocates.
/// </summary>
public readonly struct DatagramAddress : IEquatable<DatagramAddress>
{
    internal const int SockAddrIn6Size = 28;
    internal const int SockAddrInSize = 16;

    private readonly SockAddrBytes _bytes;
    private readonly byte _length;

    [InlineArray(SockAddrIn6Size)]
    private struct SockAddrBytes
    {
        private byte _e0;
    }

    /// <summary>Creates an address from an IP address and port (0–65535).</summary>
    public DatagramAddress(IPAddress address, int port)
    {
        ArgumentNullException.ThrowIfNull(address);
        if ((uint)port > 65535)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(port), "Port must be 0–65535.");
        }

        Span<byte> b = _bytes;
        b.Clear();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b, Interop.AF_INET);
            BinaryPrimitives.WriteUInt16BigEndian(b[2..], (ushort)port);
            address.TryWriteBytes(b.Slice(4, 4), out _);
            _length = SockAddrInSize;
        }
        else if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b, Interop.AF_INET6);
            BinaryPrimitives.WriteUInt16BigEndian(b[2..], (ushort)port);
            address.TryWriteBytes(b.Slice(8, 16), out _);
            BinaryPrimitives.WriteUInt32LittleEndian(b[24..], (uint)address.ScopeId);
            _length = SockAddrIn6Size;
        }
        else
        {
            ThrowHelper.ThrowArgument("Only IPv4 and IPv6 addresses are supported.", nameof(address));
        }
    }

    /// <summary>Creates an address from an <see cref="IPEndPoint"/>.</summary>
    public DatagramAddress(IPEndPoint endPoint) : this(endPoint?.Address!, endPoint?.Port ?? 0)
    {
    }

    // Built from a kernel-filled sockaddr (getsockname, recvmmsg msg_name).
    internal unsafe DatagramAddress(byte* sockaddr, int length)
    {
        ushort family = length >= 2 ? *(ushort*)sockaddr : (ushort)0;
        int len = family switch
        {
            Interop.AF_INET when length >= SockAddrInSize => SockAddrInSize,
            Interop.AF_INET6 when length >= SockAddrIn6Size => SockAddrIn6Size,
            _ => 0,
        };
        Span<byte> b = _bytes;
        b.Clear();
        new ReadOnlySpan<byte>(sockaddr, len).CopyTo(b);
        _length = (byte)len;
    }

    /// <summary>True for a default (unset) value.</summary>
    public bool IsEmpty => _length == 0;

    /// <summary>InterNetwork or InterNetworkV6; Unspecified when empty.</summary>
    public AddressFamily AddressFamily => _length switch
    {
        SockAddrInSize => AddressFamily.InterNetwork,
        SockAddrIn6Size => AddressFamily.InterNetworkV6,
        _ => AddressFamily.Unspecified,
    };

    /// <summary>The UDP port.</summary>
    public int Port => _length == 0 ? 0 : BinaryPrimitives.ReadUInt16BigEndian(((ReadOnlySpan<byte>)_bytes)[2..]);

    /// <summary>The raw sockaddr bytes (16 for IPv4, 28 for IPv6), borrowed from <paramref name="address"/>'s storage.</summary>
    internal static ReadOnlySpan<byte> SockAddrOf(ref readonly DatagramAddress address) => ((ReadOnlySpan<byte>)address._bytes)[..address._length];

    internal int Length => _length;

    /// <summary>Returns a copy with another port.</summary>
    public DatagramAddress WithPort(int port) => new(ToIPAddress(), port);

    /// <summary>The IP address (allocates; not for hot paths).</summary>
    public IPAddress ToIPAddress()
    {
        ReadOnlySpan<byte> b = _bytes;
        return _length switch
        {
            SockAddrInSize => new IPAddress(b.Slice(4, 4)),
            SockAddrIn6Size => new IPAddress(b.Slice(8, 16), BinaryPrimitives.ReadUInt32LittleEndian(b[24..])),
            _ => IPAddress.None,
        };
    }

    /// <summary>The endpoint (allocates; not for hot paths).</summary>
    public IPEndPoint ToEndPoint() => new(ToIPAddress(), Port);

    /// <summary>Parses "1.2.3.4:5", "[::1]:5" or "localhost:5" (names resolve through DNS once, here).</summary>
    public static DatagramAddress Parse(string text)
    {
        if (!TryParse(text, out DatagramAddress address))
        {
            ThrowHelper.ThrowArgument("'" + text + "' is not HOST:PORT (IPv6 as [ADDR]:PORT).", nameof(text));
        }

        return address;
    }

    /// <summary>Tries to parse "1.2.3.4:5", "[::1]:5" or "localhost:5".</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out DatagramAddress address)
    {
        address = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (IPEndPoint.TryParse(text, out IPEndPoint? ep) && (text.Contains(']', StringComparison.Ordinal) || text.Count(c => c == ':') == 1))
        {
            address = new DatagramAddress(ep);
            return true;
        }

        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            return false;
        }

        string host = text[..colon];
        if (host == "localhost")
        {
            address = new DatagramAddress(IPAddress.Loopback, port);
            return true;
        }

        try
        {
            IPAddress[] found = Dns.GetHostAddresses(host);
            if (found.Length == 0)
            {
                return false;
            }

            address = new DatagramAddress(found[0], port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public bool Equals(DatagramAddress other) =>
        _length == other._length && ((ReadOnlySpan<byte>)_bytes).SequenceEqual(other._bytes);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is DatagramAddress other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        HashCode h = default;
        h.AddBytes(((ReadOnlySpan<byte>)_bytes)[.._length]);
        return h.ToHashCode();
    }

    /// <summary>Equality by sockaddr bytes.</summary>
    public static bool operator ==(DatagramAddress left, DatagramAddress right) => left.Equals(right);

    /// <summary>Inequality by sockaddr bytes.</summary>
    public static bool operator !=(DatagramAddress left, DatagramAddress right) => !left.Equals(right);

    /// <summary>"1.2.3.4:5" or "[::1]:5"; "(none)" when empty.</summary>
    public override string ToString() => _length == 0 ? "(none)" : ToEndPoint().ToString();
}
