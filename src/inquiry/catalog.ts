/**
 * What other parts of pushcdc need to know about the inquiries without compiling SQL themselves:
 * their names and result columns (destinations check `fields` against them, the commerce mapping
 * checks its key column).
 */
export interface InquirySummary {
  name: string;
  /** The file that declares it, relative to --dir (e.g. `inquiries/BC-PUSH-Customers.sql`). */
  file: string;
  /** Result column names in view order, without the hidden keys. */
  resultColumns: string[];
}

export type InquiryCatalog = Map<string, InquirySummary>;
