using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>A window in time each datagram's SND timestamp is judged against: taprio's gates, etf's launch times.</summary>
internal interface ISendWindow
{
    /// <summary>How far outside the window a datagram may leave (ns) and count as inside: the SND stamp is taken in the driver a moment after the qdisc let it go.</summary>
    long ToleranceNs { get; }

    /// <summary>How far (ns) outside its window the datagram left; 0 inside, or without an SND timestamp.</summary>
    long Outside(in TxTimestamp t);
}
