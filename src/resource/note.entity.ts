import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/** A note of the sample resource API, owned by a token's subject. */
@Entity('notes')
export class Note {
  @PrimaryColumn('uuid', { default: () => 'gen_random_uuid()' })
  id!: string;

  @Column('text')
  owner!: string;

  @Column('text')
  text!: string;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
