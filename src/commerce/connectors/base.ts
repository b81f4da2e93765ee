import { PushcdcError } from '../../errors.ts';
import type { EntityName, StoreConfig } from '../../config/stores.ts';
import type { CommerceDirection } from '../message.ts';
import type {
  Connector,
  ExportOutcome,
  ImportOutcome,
  LocalRecord,
  Processor,
  SyncLink,
  WebhookTarget,
} from '../connector.ts';

/**
 * What every connector shares (the ERP's BCConnectorBase): ProcessPush/ProcessHook hand the record to
 * the entity's processor; what an entity supports follows from the processor it has.
 */
export abstract class ConnectorBase implements Connector {
  protected readonly processors: Map<EntityName, Processor>;

  constructor(
    readonly kind: StoreConfig['connector'],
    processors: Processor[],
  ) {
    this.processors = new Map(processors.map((p) => [p.entity, p]));
  }

  supports(entity: EntityName, direction: CommerceDirection): boolean {
    const processor = this.processors.get(entity);
    if (!processor) return false;
    return direction === 'export'
      ? processor.exportRecord !== undefined
      : processor.importRecord !== undefined && processor.webhookScopes.length > 0;
  }

  abstract startWebhooks(entity: EntityName, target: WebhookTarget): Promise<string[]>;
  abstract stopWebhooks(entity: EntityName, target: WebhookTarget): Promise<number>;

  processPush(entity: EntityName, record: LocalRecord, link: SyncLink): Promise<ExportOutcome> {
    const processor = this.processors.get(entity);
    if (!processor?.exportRecord) throw this.unsupported(entity, 'export');
    return processor.exportRecord(record, link);
  }

  contentOf(entity: EntityName, record: LocalRecord): unknown {
    return this.processors.get(entity)?.content?.(record);
  }

  processHook(entity: EntityName, hook: LocalRecord, link: SyncLink): Promise<ImportOutcome> {
    const processor = this.processors.get(entity);
    if (!processor?.importRecord) throw this.unsupported(entity, 'import');
    return processor.importRecord(hook, link);
  }

  localRecordOf(entity: EntityName, received: unknown): LocalRecord | undefined {
    return this.processors.get(entity)?.localRecord?.(received);
  }

  async externModifiedAt(entity: EntityName, externId: string): Promise<string | null> {
    const processor = this.processors.get(entity);
    return processor?.externModifiedAt ? processor.externModifiedAt(externId) : null;
  }

  protected scopes(entity: EntityName): readonly string[] {
    return this.processors.get(entity)?.webhookScopes ?? [];
  }

  private unsupported(entity: EntityName, direction: CommerceDirection): PushcdcError {
    return new PushcdcError('STORE', `the ${this.kind} connector cannot ${direction} ${entity}`);
  }
}
