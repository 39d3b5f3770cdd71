/**
 * Patient leakage in a DICOM project: images of one patient (by the Patient ID in their headers) in more than one
 * split, whatever rule the split was made with. Patients are named by their project pseudonym, as group keys
 * are, so a warning never shows or exports a patient's ID.
 */
import type { SplitWarning } from '../../../shared/contract.ts';
import type { Database } from '../db/database.ts';
import { pseudonym, pseudonymSecret } from '../project/pseudonyms.ts';

const LIMIT = 1000;

/** The pseudonyms of the patients with images in more than one split, at most LIMIT. */
export function leakingPatients(db: Database): string[] {
  const ids = db
    .prepare(
      `SELECT d.patient_id FROM dicom_images d JOIN images i ON i.id = d.image_id
       WHERE d.patient_id IS NOT NULL AND i.split IS NOT NULL AND i.status = 'ok'
       GROUP BY d.patient_id HAVING COUNT(DISTINCT i.split) > 1 LIMIT ?`,
    )
    .pluck()
    .all(LIMIT) as string[];
  if (ids.length === 0) return [];
  const secret = pseudonymSecret(db);
  // The same key a split grouped by dicom:PatientID stores, so the two warnings name a patient alike.
  return ids.map((id) => pseudonym(secret, 'patient', id)).sort();
}

export function patientWarning(patients: readonly string[], listed: number): SplitWarning | null {
  if (patients.length === 0) return null;
  const n = `${patients.length}${patients.length === LIMIT ? '+' : ''}`;
  return {
    kind: 'patient-across-splits',
    message: `${n} patient${patients.length === 1 ? ' has' : 's have'} images in more than one split (patient leakage): re-split keeping the images of the same patient together`,
    items: patients.slice(0, listed),
  };
}
