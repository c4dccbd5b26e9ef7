// Everything keyrot needs on ONE Key Vault, deployed from keyrot's resource group:
//   1. Key Vault Secrets Officer for keyrot's identity on the vault (modules/roles.bicep);
//   2. the vault's Event Grid system topic (modules/systemtopic.bicep);
//   3. Storage Blob Data Contributor for that topic's identity on the dead-letter container
//      only (here: the container lives in keyrot's resource group);
//   4. the event subscription to keyrot (modules/eventgrid.bicep), when `subscribe` is true.

@description('The vault: its name, its resource group (default: this deployment\'s), the secret names keyrot rotates there, and optionally the name of the vault\'s existing system topic.')
param vault {
  @description('Key Vault name.')
  name: string
  @description('Resource group of the vault; default: the deployment\'s resource group.')
  resourceGroup: string?
  @description('Secret names ([[credential]] name in keyrot.toml) in this vault.')
  credentials: string[]
  @description('Name of the vault\'s existing Event Grid system topic, if it has one.')
  systemTopicName: string?
}

@description('Object (principal) id of keyrot\'s user-assigned managed identity.')
param principalId string

@description('Create the event subscription (false until the endpoint can answer).')
param subscribe bool

@description('AzureFunction or WebHook (see modules/eventgrid.bicep).')
@allowed([
  'AzureFunction'
  'WebHook'
])
param endpointType string

@description('AzureFunction only: resource id of the keyrot-events function.')
param functionResourceId string = ''

@description('WebHook only: the /events URL, with ?key= when keyrot checks a key.')
@secure()
param webhookUrl string = ''

@description('WebHook only: appId or App ID URI for Entra-protected delivery; empty for none.')
param entraAudience string = ''

@description('Name of the storage account (in this resource group) for dead-lettered events.')
param deadLetterStorageAccountName string

@description('Blob container (in that account) for dead-lettered events.')
param deadLetterContainerName string

@description('Tags for new resources.')
param tags object = {}

// Storage Blob Data Contributor (built-in role).
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

var vaultResourceGroup = vault.?resourceGroup ?? resourceGroup().name
var topicName = vault.?systemTopicName ?? '${vault.name}-events'

module roles 'roles.bicep' = {
  name: 'keyrot-roles-${vault.name}'
  scope: resourceGroup(vaultResourceGroup)
  params: {
    vaultName: vault.name
    principalId: principalId
  }
}

module topic 'systemtopic.bicep' = {
  name: 'keyrot-topic-${vault.name}'
  scope: resourceGroup(vaultResourceGroup)
  params: {
    vaultName: vault.name
    topicName: topicName
    tags: tags
  }
}

resource deadLetterAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: deadLetterStorageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource container 'containers' existing = {
      name: deadLetterContainerName
    }
  }
}

resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterAccount::blobService::container.id, vaultResourceGroup, topicName, storageBlobDataContributor)
  scope: deadLetterAccount::blobService::container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
    principalId: topic.outputs.principalId
    principalType: 'ServicePrincipal'
    description: 'Event Grid system topic ${topicName}: write dead-lettered keyrot events'
  }
}

module subscription 'eventgrid.bicep' = if (subscribe) {
  name: 'keyrot-events-${vault.name}'
  scope: resourceGroup(vaultResourceGroup)
  params: {
    topicName: topicName
    credentialNames: vault.credentials
    endpointType: endpointType
    functionResourceId: functionResourceId
    webhookUrl: webhookUrl
    entraAudience: entraAudience
    deadLetterStorageAccountId: deadLetterAccount.id
    deadLetterContainerName: deadLetterContainerName
  }
  dependsOn: [
    deadLetterWriter
    roles
  ]
}

@description('Resource id of the vault\'s system topic.')
output systemTopicId string = topic.outputs.id
