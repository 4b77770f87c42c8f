namespace Perf.Batch;

/// <summary>The clock a sender's launch times are read on (<see cref="PacketSenderOptions.TxTimeClock"/>).</summary>
public enum TxTimeClock
{
    /// <summary>CLOCK_TAI: what etf and taprio's txtime-assist mode schedule on. Setting it needs CAP_NET_ADMIN.</summary>
    Tai = Interop.CLOCK_TAI,

    /// <summary>CLOCK_MONOTONIC: what fq paces on (its earliest departure time); open to anyone.</summary>
    Monotonic = Interop.CLOCK_MONOTONIC,
}
